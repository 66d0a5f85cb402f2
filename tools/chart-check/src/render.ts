// Renders the chart with chart-render (Helm's template engine without Helm) into manifests, plus NOTES.txt, which
// chart-render skips: the templates are copied to a scratch chart where NOTES.txt is one more template.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';

const run = promisify(execFile);
const NOTES_TEMPLATE = 'zz-notes.yaml';

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

export class ChartRenderer {
  private readonly scratch: string;

  constructor(
    private readonly chartRender: string,
    chartDir: string,
    readonly release = { name: 'kestrel', namespace: 'kestrel', kubeVersion: 'v1.30.0' },
  ) {
    this.scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chart-check-'));
    for (const file of ['Chart.yaml', 'values.yaml', 'values.schema.json']) fs.copyFileSync(path.join(chartDir, file), path.join(this.scratch, file));
    fs.mkdirSync(path.join(this.scratch, 'templates'));
    for (const file of fs.readdirSync(path.join(chartDir, 'templates'))) {
      const target = file === 'NOTES.txt' ? NOTES_TEMPLATE : file;
      fs.copyFileSync(path.join(chartDir, 'templates', file), path.join(this.scratch, 'templates', target));
    }
  }

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
