# The ldflags that stamp a Kubernetes binary built from its Go module with its
# version, as a release build does (kubectl version, the kubelet's node status).
#   kube_ldflags v1.36.3
kube_ldflags() {
  local k8s=$1 minor pkg ldflags="-s -w"
  minor=${k8s#v1.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ldflags"
}
