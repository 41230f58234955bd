// Command rkt is the rkt container runtime's command line.
package main

import (
	"os"

	"github.com/rkt/rkt/internal/cli"
	_ "github.com/rkt/rkt/internal/prestack" // first: see its doc
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
