// Package trust owns rkt's keystore of trusted OpenPGP keys and the check
// of detached ACI signatures against it, as rkt 1.x laid it out: keys
// under <config>/trustedkeys/prefix.d/<image name prefix>/<fingerprint>
// (trusted for the names under that prefix, whole path components only)
// and root.d/<fingerprint> (trusted for every name), in a system layer
// (--system-config) and a local one (--local-config), where a local file
// of the same path wins and an empty one masks the system key.
//
// The same layout holds cosign public keys (PEM) for registry images, under
// prefix.d/docker:/<registry>/<repository>/sha256-<hex> and
// root.d/sha256-<hex>; cosign.go checks cosign's key-based simple-signing
// signatures against them (the registry part is internal/image's, and so
// is the parsing of registry and repository names: this package takes
// them parsed, from image.NormalizeDockerPrefix or a name.Repository).
//
// Keys and signatures are hostile input until checked: sizes are bounded,
// and a signature only counts when it verifies against a key trusted for
// the image's own name.
package trust
