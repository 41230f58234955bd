package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/startup"
	"github.com/rkt/rkt/internal/store"
)

// version is stamped at build time with -ldflags "-X github.com/rkt/rkt/internal/cli.version=…".
var version = "0.0.0-dev"

// Default locations, as in rkt 1.x.
const (
	defaultDataDir      = "/var/lib/rkt"
	defaultSystemConfig = "/usr/lib/rkt"
	defaultLocalConfig  = "/etc/rkt"
)

// app is the state of one rkt invocation: global flags, configuration and
// output streams.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader

	dir          string
	systemConfig string
	localConfig  string
	userConfig   string
	debug        bool
	insecure     insecureOptions
	trustHTTPS   bool
	cpuProfile   string
	memProfile   string

	cfg *config.Config
	// exitCode is set by commands whose exit code is not 0 or 254.
	exitCode int
	start    time.Time
}

// Main runs rkt with args (without the program name) and returns the exit
// code.
func Main(args []string) int {
	a := &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, start: time.Now()}
	return a.run(args)
}

func (a *app) run(args []string) int {
	root := a.rootCommand(args)
	if frontBuild && !frontCommand(root, args) {
		return a.handOver(args, "a command of rkt-full")
	}
	root.SetArgs(args)
	ctx := newSignalContext(defaultSignals...)
	defer ctx.Stop()
	cmd, err := root.ExecuteContextC(ctx)
	if a.memProfile != "" {
		a.writeMemProfile()
	}
	if frontBuild && errors.Is(err, stage0.ErrNotStored) {
		return a.handOver(args, err.Error())
	}
	if err != nil {
		if errors.Is(err, errUsage) {
			return errdefs.ExitUsage
		}
		a.printError(cmd, err)
		return errdefs.ExitFailure
	}
	return a.exitCode
}

// errUsage makes rkt exit 2 after printing usage.
var errUsage = errors.New("usage")

// commandPrefix is what error lines start with: the subcommand path
// ("fetch", "image list").
func commandPrefix(cmd *cobra.Command) string {
	if cmd == nil {
		return "rkt"
	}
	p := strings.TrimPrefix(cmd.CommandPath(), "rkt ")
	if p == "" || p == "rkt" {
		return "rkt"
	}
	return p
}

// printError prints err as one line prefixed with the subcommand; with
// --debug, as a tree of the whole chain.
func (a *app) printError(cmd *cobra.Command, err error) {
	prefix := commandPrefix(cmd)
	if !a.debug {
		fmt.Fprintf(a.stderr, "%s: %s\n", prefix, oneLine(err.Error()))
		return
	}
	fmt.Fprintf(a.stderr, "%s: %s\n", prefix, errorTree(err))
}

// oneLine folds s onto one line and escapes control characters: error
// text quotes registry answers and image content, which must not be able
// to move the terminal's cursor or fake further lines.
func oneLine(s string) string {
	return sanitize(strings.Join(strings.Fields(s), " "))
}

// sanitize escapes control characters (C0, DEL, C1) and invalid UTF-8.
func sanitize(s string) string {
	var sb strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&sb, "\\x%02x", s[i])
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			fmt.Fprintf(&sb, "\\x%02x", r)
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// errorTree renders the chain of wrapped errors, one level a line, the way
// rkt 1.x printed them with --debug.
func errorTree(err error) string {
	var levels []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if next := errors.Unwrap(e); next != nil {
			msg = strings.TrimSuffix(msg, ": "+next.Error())
			if msg == e.Error() && strings.HasSuffix(msg, next.Error()) {
				msg = strings.TrimSuffix(msg, next.Error())
			}
		}
		if msg == "" {
			continue
		}
		if len(levels) > 0 && levels[len(levels)-1] == msg {
			continue
		}
		levels = append(levels, oneLine(msg))
	}
	var sb strings.Builder
	for i, l := range levels {
		if i > 0 {
			sb.WriteString("\n" + strings.Repeat("  ", i) + "└─")
		}
		sb.WriteString(l)
	}
	return sb.String()
}

func (a *app) rootCommand(args []string) *cobra.Command {
	cobra.EnablePrefixMatching = true
	root := &cobra.Command{
		Use:   "rkt",
		Short: "rkt, the application container runner",
		Long: `rkt runs application containers in pods, without a daemon.

Images come from registries (docker://), OCI layouts and archives, and the
local store; they are verified, stored once and unpacked once.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q (see 'rkt help')", args[0])
			}
			cmd.SetOut(a.stderr)
			_ = cmd.Usage()
			return errUsage
		},
		PersistentPreRunE: a.setup,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return errdefs.InvalidArgument(fmt.Errorf("%w (see 'rkt help %s')", err, strings.TrimPrefix(c.CommandPath(), "rkt ")))
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.dir, "dir", defaultDataDir, "rkt data directory")
	pf.StringVar(&a.systemConfig, "system-config", defaultSystemConfig, "system configuration directory")
	pf.StringVar(&a.localConfig, "local-config", defaultLocalConfig, "local configuration directory")
	pf.StringVar(&a.userConfig, "user-config", "", "user configuration directory")
	pf.BoolVar(&a.debug, "debug", false, "print out more debug information to stderr")
	pf.Var(&a.insecure, "insecure-options", "comma-separated list of security features to disable. Allowed values: "+strings.Join(insecureNames(), ", "))
	pf.BoolVar(&a.trustHTTPS, "trust-keys-from-https", false, "automatically trust gpg keys fetched from https (applies to appc key discovery)")
	pf.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	pf.StringVar(&a.memProfile, "memprofile", "", "write a memory profile to this file")
	_ = pf.MarkHidden("cpuprofile")
	_ = pf.MarkHidden("memprofile")

	addCommands(root, append(a.commands(), a.fullCommands()...), args)
	return root
}

// lazyCommand is a subcommand of rkt and what builds it. Building every
// command with its flags took 0.1-0.3 ms of each start; rootCommand
// builds the one the arguments select, and all of them only when it
// cannot tell (help, completion, no command, an unknown one).
type lazyCommand struct {
	name  string
	build func() *cobra.Command
}

// commands are the subcommands the front and rkt-full both have.
func (a *app) commands() []lazyCommand {
	return []lazyCommand{
		{"run", a.runCommand},
		{"prepare", a.prepareCommand},
		{"run-prepared", a.runPreparedCommand},
		{"list", a.listCommand},
		{"status", a.statusCommand},
		{"stop", a.stopCommand},
		{"rm", a.rmCommand},
		{"gc", a.gcCommand},
		{"enter", a.enterCommand},
		{"cat-manifest", a.catManifestCommand},
		{"version", a.versionCommand},
		{"config", a.configCommand},
	}
}

// addCommands adds cmds to root: the one args select, built, beside
// placeholders that only carry the others' names (what cobra needs to
// find a command, prefix matching included), or all of them built.
func addCommands(root *cobra.Command, cmds []lazyCommand, args []string) {
	stubs := make(map[*cobra.Command]lazyCommand, len(cmds))
	for _, l := range cmds {
		stub := &cobra.Command{Use: l.name, Hidden: true}
		stubs[stub] = l
		root.AddCommand(stub)
	}
	if c, _, err := root.Find(args); err == nil && c != root {
		if l, ok := stubs[c]; ok {
			root.RemoveCommand(c)
			root.AddCommand(l.build())
			return
		}
	}
	for stub, l := range stubs {
		root.RemoveCommand(stub)
		root.AddCommand(l.build())
	}
}

// setup runs before every command: it loads the configuration and starts
// profiling.
func (a *app) setup(cmd *cobra.Command, _ []string) error {
	cfg, err := config.Load(config.Dirs{System: a.systemConfig, Local: a.localConfig, User: a.userConfig})
	if err != nil {
		return err
	}
	if !cmd.Flags().Changed("dir") && cfg.Paths.Data != "" {
		a.dir = cfg.Paths.Data
	}
	if cfg.Paths.Data == "" {
		cfg.Paths.Data = a.dir
	}
	a.cfg = cfg
	if a.memProfile != "" {
		startup.ProfileMemory()
	}
	// Options whose feature does not exist yet are accepted, as rkt 1.x
	// scripts pass them, but said to do nothing rather than ignored.
	if a.cpuProfile != "" {
		f, err := os.Create(a.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		cobra.OnFinalize(func() { pprof.StopCPUProfile(); _ = f.Close() })
	}
	return nil
}

func (a *app) writeMemProfile() {
	f, err := os.Create(a.memProfile)
	if err != nil {
		fmt.Fprintf(a.stderr, "rkt: memory profile: %v\n", err)
		return
	}
	defer f.Close()
	runtime.GC()
	_ = pprof.WriteHeapProfile(f)
}

// debugf prints a diagnostic line with --debug, prefixed with the time
// since start.
func (a *app) debugf(format string, args ...any) {
	if a.debug {
		fmt.Fprintf(a.stderr, "[%7.3fs] "+format+"\n", append([]any{time.Since(a.start).Seconds()}, args...)...)
	}
}

// openStore opens the image store in the data directory.
// sharedStore opens the store for reading (store.Shared).
func (a *app) sharedStore() (*store.Store, error) { return a.openStore(store.Shared) }

func (a *app) openStore(mode store.LockMode) (*store.Store, error) {
	s, err := store.Open(filepath.Join(a.dir, "store"), mode)
	if err != nil {
		return nil, err
	}
	if a.debug {
		s.Debugf = a.debugf
	}
	return s, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
