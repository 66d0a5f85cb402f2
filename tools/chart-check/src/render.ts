// The chart is rendered by the e2e harness's renderer (chart-render, NOTES.txt included), shared with the e2e tests
// that install the rendered chart into the Kubernetes API test server.
export { ChartRenderer, type Manifest, type Rendered, type RenderResult } from '@kestrel/e2e/harness/chart';
