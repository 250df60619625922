// BPF objects are embedded in the executable with `import p from "x.bpf.o" with { type: "file" }`;
// the import yields the path (a $bunfs path inside the compiled binary).
declare module "*.bpf.o" {
  const path: string;
  export default path;
}

// The libbpf bundle (build/libbpf-bundle.so) is embedded the same way: src/bpf/libbpf-origin.ts.
declare module "*.so" {
  const path: string;
  export default path;
}
