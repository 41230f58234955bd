// Package image owns image references and image sources: parsing what the
// user typed (docker://, oci:, oci-archive:, docker-archive:, a stored image
// ID or name), reading manifests, indexes and configs from registries, OCI
// layouts and archives with size limits and digest checks, and picking the
// linux/<GOARCH> manifest of a multi-arch index.
//
// Everything it reads is hostile (SECURITY.md): digests are validated
// before they become paths or URLs, every read is bounded, and content is
// checked against its digest before it is returned. It must not write the
// store or check signatures.
package image
