//go:build tools

// Package tools pins the linter that scripts/lint.sh builds into
// bin/golangci-lint. It is a separate module so that the linter's large
// dependency graph never enters the main module's go.mod, and so that the
// version is reproducible (GOTOOLCHAIN=local, no `go install ...@latest`).
//
// Build: cd tools/lint && go build -o ../../bin/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
