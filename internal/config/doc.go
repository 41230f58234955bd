// Package config owns rkt's configuration directories: the system, local and
// user layers, each holding `<kind>.d/*.json` files of the rkt 1.x kinds
// (auth, dockerAuth, paths, stage1), merged with later layers overriding
// earlier ones. It parses and validates; it does not fetch, store or run
// anything.
package config
