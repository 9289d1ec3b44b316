/**
 * The workspace's library packages as a browser app sees them: for each package under
 * packages/, its name and the source file its "browser"/default export condition stands for
 * (dist/<name>.js <- src/<name>.ts). The playground's Vite config resolves @igm/* with it, so
 * the page runs on the sources without a build, exactly as a bundler resolves the published
 * packages; the bundling test enumerates the packages with it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const workspaceRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface WorkspacePackage {
  readonly name: string;
  readonly dir: string;
  readonly private: boolean;
  /** Has a `bin`: a command-line tool (Node only), not a library. */
  readonly isCli: boolean;
  /** The export path a browser bundler resolves for ".", e.g. ./dist/index.js. */
  readonly browserExport: string;
  /** The source file that export is built from. */
  readonly browserSource: string;
}

type Conditions = string | null | { [condition: string]: Conditions };

/** Resolves an export target with a bundler's browser conditions (first matching key wins). */
export function resolveConditions(
  target: Conditions,
  conditions: readonly string[],
): string | null {
  if (target === null || typeof target === 'string') return target;
  for (const [key, value] of Object.entries(target)) {
    if (key === 'default' || conditions.includes(key)) {
      const hit = resolveConditions(value, conditions);
      if (hit !== null) return hit;
    }
  }
  return null;
}

/** What a browser bundler (esbuild, Vite, webpack targeting web) matches for an ES import. */
export const BROWSER_CONDITIONS = ['browser', 'import', 'module'] as const;

/** Every package under packages/ with its browser entry. */
export function workspacePackages(): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const entry of readdirSync(join(workspaceRoot, 'packages')).sort()) {
    const dir = join(workspaceRoot, 'packages', entry);
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
      name: string;
      private?: boolean;
      bin?: unknown;
      exports?: Record<string, Conditions>;
      main?: string;
    };
    const root = pkg.exports?.['.'] ?? pkg.main ?? null;
    const browserExport = resolveConditions(root, BROWSER_CONDITIONS) ?? '';
    const stem = browserExport.replace(/^\.\/dist\//, '').replace(/\.(m|c)?js$/, '');
    const browserSource = browserExport.startsWith('./dist/')
      ? join(dir, 'src', `${stem}.ts`)
      : join(dir, 'src', 'index.ts');
    out.push({
      name: pkg.name,
      dir,
      private: pkg.private === true,
      isCli: pkg.bin !== undefined,
      browserExport,
      browserSource,
    });
  }
  return out;
}

/**
 * Published library packages that exist for Node.js only, with the reason. Their Node-only
 * nature is the point (they manage processes and files), so no browser entry may import them;
 * the bundling test checks both that they do need Node and that no browser entry reaches them.
 */
export const NODE_ONLY_PACKAGES: Readonly<Record<string, string>> = {
  '@igm/temp-files':
    "temporary names owned by a process and removal of dead processes' leftovers (process ids, host names, files); used by the Node entries of @igm/datasets and @igm/trainer",
};

/** Published (not private) packages that are not a command-line tool. */
function publishedLibraries(): WorkspacePackage[] {
  return workspacePackages().filter((p) => !p.private && !p.isCli);
}

/**
 * The library packages a web app may install: published (not private), not a command-line tool
 * and not Node only (`NODE_ONLY_PACKAGES`). Packages added to the workspace join automatically.
 */
export function libraryPackages(): WorkspacePackage[] {
  return publishedLibraries().filter((p) => NODE_ONLY_PACKAGES[p.name] === undefined);
}

/** The published packages listed in `NODE_ONLY_PACKAGES`. */
export function nodeOnlyPackages(): WorkspacePackage[] {
  return publishedLibraries().filter((p) => NODE_ONLY_PACKAGES[p.name] !== undefined);
}

/** Vite/Rollup aliases: each workspace package name to its browser source entry. */
export function browserAliases(): Array<{ find: RegExp; replacement: string }> {
  return workspacePackages().map((p) => ({
    find: new RegExp(`^${p.name.replace(/[/]/g, '\\/')}$`),
    replacement: p.browserSource,
  }));
}
