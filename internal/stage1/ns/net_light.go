//go:build stage1light

package ns

import (
	"errors"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// haveCNI is false in the light stage1 binary, the run entrypoint of the
// stage1 image (built with the stage1light tag): it runs pods on the host
// network or none, and pod init, without the CNI packages, so both start
// faster. A pod with CNI networks, and the gc entrypoint, it hands to the
// full binary beside it (handOver) before doing anything.
const haveCNI = false

var errNoCNI = errors.New("this stage1 binary has no CNI networking (stage1light): the full binary runs such pods")

// setupNetworks is not reached: Run hands CNI pods over first.
func setupNetworks(abi.RunArgs, RunPlan, *podinit.Config, func(string, ...any)) (func() error, string, error) {
	return nil, "", errNoCNI
}

// enterNetNS is not reached either.
func enterNetNS(string) (func() error, error) { return nil, errNoCNI }

// GC is the gc entrypoint: the full binary detaches networks.
func GC([]string) int { return handOver("gc") }
