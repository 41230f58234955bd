// Command stage1-ns is the default stage1 flavor "ns": see internal/stage1/ns.
package main

import (
	"os"

	"github.com/rkt/rkt/internal/stage1/ns"
	_ "github.com/rkt/rkt/internal/startup" // its init tunes the runtime for a short start
)

func main() {
	os.Exit(ns.Main(os.Args))
}
