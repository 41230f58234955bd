// Package covflush writes a coverage build's counters before the process
// execs another program: coverage data is written at exit, and an exec
// never exits (rkt run execs stage1; the user namespace helper execs the
// app). In a normal build (no -cover) it does nothing. scripts/cover.sh
// relies on it.
package covflush
