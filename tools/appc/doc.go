// Package appc pins the appc tools the tests use: actool (v0.8.11, the
// App Container spec's own tool), to build and validate ACIs beside ours.
// `make test-tools` builds them into bin/test-tools.
package appc
