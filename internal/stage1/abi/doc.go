// Package abi owns the contract between stage0 (the rkt command) and a
// stage1 flavor: the entrypoint annotations of a stage1 image, the
// interface version, the arguments and environment of each entrypoint, and
// the names of the files both sides read and write in a pod directory. It
// is pure data and parsing, imported by both sides, and depends on nothing
// else in rkt. docs/stage1.md describes the contract in prose.
package abi
