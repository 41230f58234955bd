package pod

import "path/filepath"

// State is a pod's state as rkt prints it.
type State string

// The states of rkt 1.x, spelled as rkt list and rkt status print them.
const (
	StateEmbryo         State = "embryo"
	StatePreparing      State = "preparing"
	StateAbortedPrepare State = "aborted prepare"
	StatePrepared       State = "prepared"
	StateRunning        State = "running"
	StateDeleting       State = "deleting"
	StateExitedDeleting State = "exited deleting"
	StateExited         State = "exited"
	StateExitedGarbage  State = "exited garbage"
	StateGarbage        State = "garbage"
)

// String returns the state as rkt prints it.
func (s State) String() string { return string(s) }

// AfterRun reports whether a pod in state s has run and exited (exited,
// exited garbage, exited deleting).
func (s State) AfterRun() bool {
	return s == StateExited || s == StateExitedGarbage || s == StateExitedDeleting
}

// phase indexes the state directories, in the order a pod goes through
// them. Every rename moves a pod to a later phase, which is what makes a
// single forward scan of the directories find a pod that moves meanwhile.
type phase int

const (
	phaseEmbryo phase = iota
	phasePrepare
	phasePrepared
	phaseRun
	phaseExitedGarbage
	phaseGarbage
	numPhases
)

// phaseDirs are the names of the state directories under <dataDir>/pods.
var phaseDirs = [numPhases]string{
	phaseEmbryo:        "embryo",
	phasePrepare:       "prepare",
	phasePrepared:      "prepared",
	phaseRun:           "run",
	phaseExitedGarbage: "exited-garbage",
	phaseGarbage:       "garbage",
}

// Include selects state directories for ListIncluding.
type Include uint8

// The state directories, alone and in rkt's usual combinations.
const (
	IncludeEmbryo Include = 1 << iota
	IncludePrepare
	IncludePrepared
	IncludeRun
	IncludeExitedGarbage
	IncludeGarbage

	// IncludeMost is what rkt list shows and what a UUID prefix is
	// resolved against: prepare, prepared, run and exited-garbage.
	IncludeMost = IncludePrepare | IncludePrepared | IncludeRun | IncludeExitedGarbage
	// IncludeAll is every state directory.
	IncludeAll = IncludeMost | IncludeEmbryo | IncludeGarbage
)

func (in Include) has(ph phase) bool { return in&(1<<uint(ph)) != 0 }

// PodsDir returns <dataDir>/pods.
func PodsDir(dataDir string) string { return filepath.Join(dataDir, "pods") }

func phaseDir(dataDir string, ph phase) string {
	return filepath.Join(dataDir, "pods", phaseDirs[ph])
}

func podPath(dataDir string, ph phase, uuid string) string {
	return filepath.Join(dataDir, "pods", phaseDirs[ph], uuid)
}

// stateOf maps a phase and whether the pod directory is locked to a state.
func stateOf(ph phase, locked bool) State {
	switch ph {
	case phaseEmbryo:
		return StateEmbryo
	case phasePrepare:
		if locked {
			return StatePreparing
		}
		return StateAbortedPrepare
	case phasePrepared:
		return StatePrepared
	case phaseRun:
		if locked {
			return StateRunning
		}
		return StateExited
	case phaseExitedGarbage:
		if locked {
			return StateExitedDeleting
		}
		return StateExitedGarbage
	default:
		if locked {
			return StateDeleting
		}
		return StateGarbage
	}
}

// probed reports whether the state in phase ph depends on the lock.
func probed(ph phase) bool { return ph != phaseEmbryo && ph != phasePrepared }
