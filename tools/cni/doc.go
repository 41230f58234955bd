// Module cni pins the CNI plugins (github.com/containernetworking/plugins)
// that the stage1 image carries, as go.mod tool dependencies: `make` builds
// them into bin/cni and tools/mkstage1 packs them. A module of its own, so
// that rkt's module does not depend on the plugins' graph. Debian's
// packaged plugins (1.1.1) are older: their portmap fails CHECK.
package cni
