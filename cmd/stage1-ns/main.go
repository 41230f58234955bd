// Command stage1-ns is the default stage1 flavor "ns": see internal/stage1/ns.
package main

import (
	"os"

	_ "github.com/rkt/rkt/internal/prestack" // first: see its doc
	"github.com/rkt/rkt/internal/stage1/ns"
)

func main() {
	os.Exit(ns.Main(os.Args))
}
