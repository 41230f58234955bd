// Command rkt is the rkt container runtime's command line.
package main

import (
	"os"

	"github.com/rkt/rkt/internal/cli"
	_ "github.com/rkt/rkt/internal/startup" // its init tunes the runtime for a short start
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
