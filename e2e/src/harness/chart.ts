// Renders helm/kestrel-operator with chart-render (Helm's template engine without Helm: ../shared/tools/chart-render,
// built into .tools/bin by `make chart-check`) into manifests, plus NOTES.txt, which chart-render skips: the templates
// are copied to a scratch chart where NOTES.txt is one more template. `make chart-check` (tools/chart-check) and the
// e2e tests that install the chart into the Kubernetes API test server (chart-install.test.ts) render with this.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { repoRoot } from './repo.js';

const run = promisify(execFile);
const NOTES_TEMPLATE = 'zz-notes.yaml';

export const chartDir = path.join(repoRoot, 'helm/kestrel-operator');

/** The chart-render binary: $CHART_RENDER, else .tools/bin/chart-render (scripts/chart-check.sh builds it there). */
export function chartRenderPath(): string {
  const file = process.env['CHART_RENDER'] ?? path.join(repoRoot, '.tools/bin/chart-render');
  if (!fs.existsSync(file)) throw new Error(`chart-render is not at ${file}: run make chart-check once (it builds it into .tools/bin)`);
  return file;
}

export interface Manifest {
  source: string;
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string | undefined;
  object: Record<string, unknown>;
}

export interface Rendered {
  manifests: Manifest[];
  notes: string;
}

export type RenderResult = { ok: true; rendered: Rendered } | { ok: false; error: string };

export interface Release {
  name: string;
  namespace: string;
  kubeVersion: string;
}

export class ChartRenderer {
  private readonly scratch: string;

  constructor(
    private readonly chartRender: string = chartRenderPath(),
    chart: string = chartDir,
    readonly release: Release = { name: 'kestrel', namespace: 'kestrel', kubeVersion: 'v1.30.0' },
  ) {
    this.scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chart-render-'));
    for (const file of ['Chart.yaml', 'values.yaml', 'values.schema.json']) fs.copyFileSync(path.join(chart, file), path.join(this.scratch, file));
    fs.mkdirSync(path.join(this.scratch, 'templates'));
    for (const file of fs.readdirSync(path.join(chart, 'templates'))) {
      const target = file === 'NOTES.txt' ? NOTES_TEMPLATE : file;
      fs.copyFileSync(path.join(chart, 'templates', file), path.join(this.scratch, 'templates', target));
    }
  }

  /** Renders with these values files, later ones over earlier ones (helm -f a -f b). */
  async render(valuesFiles: string[]): Promise<RenderResult> {
    const args = [...valuesFiles.flatMap((f) => ['-f', f]), '-name', this.release.name, '-namespace', this.release.namespace];
    args.push('-kube-version', this.release.kubeVersion, this.scratch);
    try {
      const { stdout } = await run(this.chartRender, args, { maxBuffer: 64 * 1024 * 1024 });
      return { ok: true, rendered: split(stdout) };
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      return { ok: false, error: (e.stderr || e.message).trim() };
    }
  }

  close(): void {
    fs.rmSync(this.scratch, { recursive: true, force: true });
  }
}

/** Splits chart-render's stream ("---\n# Source: chart/templates/x.yaml\n...") into manifests and the notes. */
function split(stream: string): Rendered {
  const manifests: Manifest[] = [];
  let notes = '';
  const sections = stream.split(/^---\n# Source: (.+)\n/m);
  for (let i = 1; i < sections.length; i += 2) {
    const source = sections[i]!;
    const body = sections[i + 1] ?? '';
    if (source.endsWith(`/${NOTES_TEMPLATE}`)) {
      notes = body;
      continue;
    }
    // Kubernetes tools read manifests as YAML 1.1 (sigs.k8s.io/yaml), like Helm.
    for (const doc of YAML.parseAllDocuments(body, { version: '1.1' })) {
      if (doc.errors.length > 0) throw new Error(`${source}: not valid YAML: ${doc.errors[0]!.message}`);
      const object = doc.toJS() as Record<string, unknown> | null;
      if (object === null) continue;
      const metadata = (object.metadata ?? {}) as { name?: string; namespace?: string };
      manifests.push({
        source: source.replace(/^[^/]+\//, ''),
        apiVersion: String(object.apiVersion),
        kind: String(object.kind),
        name: String(metadata.name),
        namespace: metadata.namespace,
        object,
      });
    }
  }
  return { manifests, notes };
}
