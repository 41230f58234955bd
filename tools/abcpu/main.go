// Command abcpu compares the CPU time of commands run alternately: the
// user and system time of each run's whole process tree (wait4's rusage
// counts every descendant that was waited for), as medians and as paired
// differences against the first command. Pairing cancels the drift of a
// virtual machine's speed, which here is larger than most changes worth
// measuring.
//
//	abcpu -n 200 -between 'rkt gc --grace-period=0' \
//	    'old/rkt run --net=host IMG --exec=/bin/true' \
//	    'new/rkt run --net=host IMG --exec=/bin/true'
//
// Each argument is a command line split on white space (no quoting).
// With -wall it compares elapsed time instead, start to exit of each run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall" //nolint:depguard // syscall.Rusage: the type os.ProcessState.SysUsage returns
	"time"
)

func main() {
	n := flag.Int("n", 100, "rounds: each command runs once per round, in rotating order")
	between := flag.String("between", "", "a command run, untimed, every `every` rounds (a cleanup)")
	every := flag.Int("every", 50, "rounds between two runs of -between")
	wall := flag.Bool("wall", false, "compare elapsed (wall clock) time instead of CPU time")
	flag.Parse()
	if flag.NArg() == 0 || *n < 1 || *every < 1 {
		fmt.Fprintln(os.Stderr, "usage: abcpu [-n ROUNDS] [-between CMD [-every N]] CMD...")
		os.Exit(2)
	}
	cmds := make([][]string, flag.NArg())
	for i, a := range flag.Args() {
		if cmds[i] = strings.Fields(a); len(cmds[i]) == 0 {
			fmt.Fprintln(os.Stderr, "abcpu: an empty command")
			os.Exit(2)
		}
	}
	ctx := context.Background()
	res := make([][]float64, len(cmds))
	for i := range *n {
		for j := range cmds {
			k := (i + j) % len(cmds)
			ms, err := runMS(ctx, cmds[k], *wall)
			if err != nil {
				fmt.Fprintf(os.Stderr, "abcpu: %s: %v\n", flag.Arg(k), err)
				os.Exit(1)
			}
			res[k] = append(res[k], ms)
		}
		if *between != "" && i%*every == *every-1 {
			if f := strings.Fields(*between); len(f) > 0 {
				_ = exec.CommandContext(ctx, f[0], f[1:]...).Run() //nolint:gosec // G204: the user's own command
			}
		}
	}
	for j := range cmds {
		fmt.Println(summary(j, flag.Arg(j), res[j], res[0]))
	}
}

// runMS runs argv with no output and returns the CPU time of its process
// tree in milliseconds, or with wall its elapsed time.
func runMS(ctx context.Context, argv []string, wall bool) (float64, error) {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // G204: the user's own command
	start := time.Now()
	if err := c.Run(); err != nil {
		return 0, err
	}
	if wall {
		return float64(time.Since(start).Nanoseconds()) / 1e6, nil
	}
	ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, fmt.Errorf("no resource usage")
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6, nil
}

// summary is one command's line: its median and quartiles, and the median
// and quartiles of its run-by-run difference from base.
func summary(i int, name string, xs, base []float64) string {
	d := make([]float64, len(xs))
	for k := range xs {
		d[k] = xs[k] - base[k]
	}
	return fmt.Sprintf("%d: median %.2f ms (p25 %.2f, p75 %.2f); minus command 0: median %+.2f (p25 %+.2f, p75 %+.2f)  %s",
		i, quantile(xs, .5), quantile(xs, .25), quantile(xs, .75), quantile(d, .5), quantile(d, .25), quantile(d, .75), name)
}

// quantile returns the q-quantile of xs (nearest rank, rounding down).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
