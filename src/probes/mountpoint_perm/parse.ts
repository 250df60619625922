// Parser for /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst, 3.5):
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)         (6)       (7...)   (8)(9)   (10)      (11)
// mount id, parent id, major:minor, root, mount point, per-mount options, optional fields ended
// by "-", filesystem type, source, super-block options. Paths escape space, tab, newline and
// backslash as \040 \011 \012 \134; they are decoded here.

export interface MountInfo {
  mountId: number;
  parentId: number;
  /** "major:minor" of the filesystem's device. */
  device: string;
  root: string;
  mountPoint: string;
  /** Per-mount options (field 6): "ro" here means this mount is read-only. */
  options: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

const UINT = /^\d+$/;

/** `\NNN` octal escapes back to the character (what the kernel's mangle_path escaped). */
export function unescapeMountPath(s: string): string {
  return s.includes("\\") ? s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))) : s;
}

export function parseMountInfo(text: string, source = "/proc/self/mountinfo"): MountInfo[] {
  const out: MountInfo[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 1}`;
    const f = line.trim().split(" ");
    const sep = f.indexOf("-", 6);
    if (f.length < 7 || sep < 0 || f.length < sep + 3) {
      throw new Error(`${where}: expected "id parent maj:min root mountpoint options ... - fstype source [superoptions]" in ${JSON.stringify(line)}`);
    }
    const [id, parent, device, root, mountPoint, options] = f as [string, string, string, string, string, string];
    if (!UINT.test(id) || !UINT.test(parent)) throw new Error(`${where}: bad mount id or parent id in ${JSON.stringify(line)}`);
    if (!/^\d+:\d+$/.test(device)) throw new Error(`${where}: bad device number ${JSON.stringify(device)}`);
    out.push({
      mountId: Number(id),
      parentId: Number(parent),
      device,
      root: unescapeMountPath(root),
      mountPoint: unescapeMountPath(mountPoint),
      options: options.split(","),
      fsType: f[sep + 1]!,
      source: unescapeMountPath(f[sep + 2]!),
      // Some filesystems print no super options at all.
      superOptions: f[sep + 3] === undefined ? [] : f[sep + 3]!.split(","),
    });
  });
  if (out.length === 0) throw new Error(`${source}: empty file (a process always has a root mount)`);
  return out;
}

/** The strict ancestors of a path, nearest first: "/a/b/c" → "/a/b", "/a", "/". */
function* ancestors(path: string): Generator<string> {
  let p = path;
  while (p !== "/" && p !== "") {
    const cut = p.lastIndexOf("/");
    p = cut <= 0 ? "/" : p.slice(0, cut);
    yield p;
  }
}

/**
 * The mounts a process actually sees: one per mount point, the top of any stack. A mount is
 * visible when it is reachable and nothing sits on top of it (no child mounted on the same
 * path). It is reachable when
 *   - no sibling (same parent) was mounted later on one of its ancestor directories (had that
 *     sibling been there first, the mount's parent would be that sibling), and
 *   - its parent is visible, or, for a mount stacked on its parent's own path, the parent is
 *     reachable (the parent is covered by this very mount).
 * The root mount's parent is outside this view (not listed). Mount ids are not chronological
 * and neither is file order, so only the parent links are used.
 */
export function visibleMounts(mounts: readonly MountInfo[]): MountInfo[] {
  const byId = new Map<number, MountInfo>();
  const childPaths = new Map<number, Set<string>>(); // parent id → mount points of its children
  for (const m of mounts) {
    byId.set(m.mountId, m);
    let set = childPaths.get(m.parentId);
    if (!set) childPaths.set(m.parentId, (set = new Set()));
    set.add(m.mountPoint);
  }
  const covered = (m: MountInfo) => childPaths.get(m.mountId)?.has(m.mountPoint) === true;
  const reachableMemo = new Map<number, boolean>();
  // `depth` cuts off a parent cycle in a malformed file (a self-parent counts as no parent).
  const reachable = (m: MountInfo, depth: number): boolean => {
    const known = reachableMemo.get(m.mountId);
    if (known !== undefined) return known;
    let r = true;
    const siblings = childPaths.get(m.parentId)!;
    for (const dir of ancestors(m.mountPoint)) {
      if (siblings.has(dir)) {
        r = false;
        break;
      }
    }
    const parent = m.parentId !== m.mountId ? byId.get(m.parentId) : undefined;
    if (r && parent && depth < mounts.length) {
      r = parent.mountPoint === m.mountPoint ? reachable(parent, depth + 1) : reachable(parent, depth + 1) && !covered(parent);
    }
    reachableMemo.set(m.mountId, r);
    return r;
  };
  // Two visible mounts on one path can only come from a file this logic does not model; the
  // later line wins so a mount point is never reported twice.
  const byPath = new Map<string, MountInfo>();
  for (const m of mounts) if (!covered(m) && reachable(m, 0)) byPath.set(m.mountPoint, m);
  return [...byPath.values()];
}
