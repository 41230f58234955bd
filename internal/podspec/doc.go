// Package podspec owns rkt's model of what runs: the mapping of OCI image
// configs onto appc image and pod manifests (the way rkt's docker2aci did),
// and their validation. It imports no other rkt package.
package podspec
