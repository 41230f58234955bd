// Package aci reads the appc ACI images the store holds: their media
// type, manifests, annotations and dependency trees. It links no code that
// fetches, decompresses or verifies images, so that the front rkt binary
// (cmd/rkt built with the rktfront tag) can resolve a stored stage1.
package aci
