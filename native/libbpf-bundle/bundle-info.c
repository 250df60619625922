// What the bundle was built from, for `kpulse version` and GET /version: libbpf's own API tells
// only major.minor (libbpf_version_string() is "v1.1"), not the release nor libelf's and zlib's.
// build.sh passes the Debian package versions of the archives it linked.
#ifndef KPULSE_BUNDLE_CONTENTS
#error "KPULSE_BUNDLE_CONTENTS is set by build.sh"
#endif

const char *kpulse_libbpf_bundle_contents(void) {
  return KPULSE_BUNDLE_CONTENTS;
}
