// Package layering owns the import-graph rules of this module and nothing
// else: it has no code, only a test that loads the module's packages with
// `go list` and fails when an arrow of DESIGN.md section 4 is broken.
//
// The rules (see rules in layering_test.go):
//   - a stage1 (internal/stage1/... and cmd/stage1-*) never links
//     internal/store, internal/image, internal/trust, internal/stage0,
//     internal/cli, net/http or google.golang.org/grpc, not even
//     transitively;
//   - cmd/rkt never links a stage1 flavor; only internal/stage1/abi, the
//     stage0/stage1 contract, is shared;
//   - internal/podspec (and its adapters under internal/podspec/) imports no
//     other package of this module;
//   - only cmd/rkt imports internal/cli;
//   - internal/errdefs imports nothing from this module;
//   - a built stage1 binary (bin/stage1-*) stays under a size limit.
//
// depguard in .golangci.yml repeats the direct-import part of these rules so
// that an editor points at the offending import line; this test also catches
// the transitive cases depguard cannot see.
//
// Packages of this module must not import layering.
package layering
