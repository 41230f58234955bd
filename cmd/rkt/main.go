// Command rkt is the rkt container runtime's command line.
package main

import (
	"os"

	"github.com/rkt/rkt/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
