// Package cli owns rkt's command line: the cobra command tree, the global
// flags of rkt 1.x, parsing flags into option structs, output formats
// (tables, JSON, IDs, progress) and the mapping of errors to one line on
// stderr and exit code 254. It calls the workflow packages and must not
// touch the kernel or the file system directly.
package cli
