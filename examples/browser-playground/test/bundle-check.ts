/**
 * Bundles a module for the browser with esbuild (platform browser, the "browser" condition,
 * package.json `browser` fields honoured): `bundleForBrowser`. Workspace packages resolve to the
 * sources their browser export is built from (workspace.ts), tfjs stays external (a peer
 * dependency the app installs; it is browser-first). `nodeImportsOfBrowserBundle` lists every
 * Node built-in such a bundle would import (`{ module, importer }` per import that only Node can
 * satisfy) and the files the bundle includes.
 */
import { builtinModules } from 'node:module';
import { relative, resolve } from 'node:path';
import { build, type Metafile, type OutputFile, type Plugin } from 'esbuild';
import { workspacePackages, workspaceRoot } from '../workspace';

const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));

function isBuiltin(path: string): boolean {
  const bare = path.startsWith('node:') ? path.slice(5) : path;
  return path.startsWith('node:') || BUILTINS.has(bare) || BUILTINS.has(bare.split('/')[0]!);
}

export interface NodeImport {
  /** The built-in, as written ('node:fs', 'crypto'). */
  readonly module: string;
  /** The file importing it, relative to the workspace root. */
  readonly importer: string;
}

/**
 * `entry` bundled for the browser as one ES module (module comment), with `plugins` added; the
 * metafile lists the files it includes (paths relative to the working directory).
 */
export async function bundleForBrowser(
  entry: string,
  plugins: readonly Plugin[] = [],
): Promise<{ output: OutputFile; metafile: Metafile }> {
  const packages = new Map(workspacePackages().map((p) => [p.name, p.browserSource]));
  const workspace: Plugin = {
    name: 'igm-workspace-sources',
    setup(b) {
      b.onResolve({ filter: /^@igm\/[^/]+$/ }, (args) => {
        const source = packages.get(args.path);
        return source ? { path: source } : undefined;
      });
    },
  };
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['browser'],
    external: ['@tensorflow/*'],
    plugins: [workspace, ...plugins],
    logLevel: 'silent',
    metafile: true,
  });
  return { output: result.outputFiles[0]!, metafile: result.metafile };
}

export async function nodeImportsOfBrowserBundle(
  entry: string,
): Promise<{ imports: NodeImport[]; bytes: number; files: string[] }> {
  const imports: NodeImport[] = [];
  const plugin: Plugin = {
    name: 'igm-node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'inner' || !isBuiltin(args.path)) return undefined;
        // A package's `browser` field may map the built-in away ("fs": false): that is fine.
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: 'inner',
        });
        if (resolved.errors.length === 0 && !resolved.external) return resolved;
        imports.push({ module: args.path, importer: relative(workspaceRoot, args.importer) });
        return { path: args.path, external: true };
      });
    },
  };
  const { output, metafile } = await bundleForBrowser(entry, [plugin]);
  const files = Object.keys(metafile.inputs).map((input) => resolve(input));
  return { imports, bytes: output.contents.length, files };
}
