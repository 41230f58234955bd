package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// optionalStore opens the image store for stage1 lookups; commands that
// manage pods still work without it.
func (a *app) optionalStore() *store.Store {
	s, err := a.openStore(store.Shared)
	if err != nil {
		a.debugf("store: %v", err)
		return nil
	}
	return s
}

// deleteOptions runs the stage1 gc entrypoint before a pod is deleted.
func (a *app) deleteOptions(cmd *cobra.Command, s *store.Store, onEvent func(pod.GCEvent)) pod.DeleteOptions {
	return pod.DeleteOptions{
		BeforeDelete: func(p *pod.Pod) error {
			return stage0.StageGC(cmd.Context(), s, p, abi.GCArgs{Debug: a.debug, LocalConfig: a.localConfig}, a.warner(cmd.Name()))
		},
		OnEvent: onEvent,
	}
}

func (a *app) gcCommand() *cobra.Command {
	var (
		grace, expire time.Duration
		markOnly      bool
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Garbage collect pods that exited",
		Long: `Mark exited pods and failed or expired prepares as garbage, then delete the
garbage older than the grace period: stage1's gc entrypoint tears down what
the pod left outside its directory, mounts are detached, and the directory
is removed without ever crossing a mount.`,
		Example: "  rkt gc --grace-period=0s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireRoot(); err != nil {
				return err
			}
			if grace < 0 || expire < 0 {
				return errdefs.InvalidArgument(errors.New("--grace-period and --expire-prepared must not be negative"))
			}
			s := a.optionalStore()
			if s != nil {
				defer s.Close()
			}
			opts := pod.DefaultGCOptions()
			opts.GracePeriod, opts.ExpirePrepared, opts.MarkOnly = grace, expire, markOnly
			// An unlocked embryo is a pod that never got prepared (its
			// creator died before locking it): it expires like a prepared
			// pod, at the latest after the embryo default (zero disables
			// embryo expiry in pod.GCOptions, so use the smallest step).
			opts.ExpireEmbryo = min(opts.ExpireEmbryo, max(expire, time.Nanosecond))
			failed := 0
			opts.DeleteOptions = a.deleteOptions(cmd, s, func(e pod.GCEvent) {
				if e.Action == pod.Failed {
					failed++
				}
				a.printGCEvent("gc", e)
			})
			if _, err := pod.GC(a.dir, opts); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d pod(s) could not be collected", failed)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&grace, "grace-period", pod.DefaultGracePeriod, "duration to wait before deleting an exited pod")
	cmd.Flags().DurationVar(&expire, "expire-prepared", pod.DefaultExpirePrepared, "duration to wait before expiring a prepared pod")
	cmd.Flags().BoolVar(&markOnly, "mark-only", false, "only mark exited pods as garbage; do not delete anything")
	return cmd
}

func (a *app) printGCEvent(prefix string, e pod.GCEvent) {
	msg, toStdout := e.Message()
	switch {
	case msg == "":
	case toStdout:
		fmt.Fprintln(a.stdout, msg)
	default:
		fmt.Fprintf(a.stderr, "%s: %s\n", prefix, oneLine(msg))
	}
}

// podArgs resolves the pods of stop and rm, from UUIDs or --uuid-file.
func (a *app) podArgs(args []string, uuidFile string) ([]string, error) {
	if uuidFile != "" {
		if len(args) > 0 {
			return nil, errdefs.InvalidArgument(errors.New("give UUIDs or --uuid-file, not both"))
		}
		u, err := pod.ReadUUIDFile(uuidFile)
		if err != nil {
			return nil, err
		}
		return []string{u}, nil
	}
	if len(args) == 0 {
		return nil, errdefs.InvalidArgument(errors.New("give at least one pod UUID"))
	}
	return args, nil
}

// eachPod runs fn on the pods ids name, as rm and stop do: one stderr
// line per failure, the quoted UUID on stdout for each pod fn acted on
// (done), and an error when any failed.
func (a *app) eachPod(ids []string, prefix, verb string, fn func(*pod.Pod) (done bool, err error)) error {
	failed := 0
	for _, id := range ids {
		p, err := pod.Load(a.dir, id)
		done := false
		if err == nil {
			done, err = fn(p)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "%s: %s\n", prefix, oneLine(err.Error()))
			failed++
			continue
		}
		if done {
			fmt.Fprintf(a.stdout, "%q\n", p.UUID)
		}
	}
	if failed > 0 {
		return fmt.Errorf("failed to %s %d pod(s)", verb, failed)
	}
	return nil
}

// loadPodAs loads the pod uuid names, as root, and checks its state.
func (a *app) loadPodAs(uuid string, ok func(pod.State) bool, want string) (*pod.Pod, *schema.PodManifest, error) {
	if err := requireRoot(); err != nil {
		return nil, nil, err
	}
	p, err := pod.Load(a.dir, uuid)
	if err != nil {
		return nil, nil, err
	}
	if !ok(p.State) {
		return nil, nil, errdefs.InvalidArgument(fmt.Errorf("pod %s is %s, not %s", p.UUID, p.State, want))
	}
	m, err := p.Manifest()
	if err != nil {
		return nil, nil, err
	}
	return p, m, nil
}

// chooseApp is --app, or the pod's only app.
func chooseApp(p *pod.Pod, m *schema.PodManifest, name string) (string, error) {
	if name != "" {
		if m.Apps.Get(types.ACName(name)) == nil {
			return "", errdefs.NotFound(fmt.Errorf("pod %s has no app %q", p.UUID, name))
		}
		return name, nil
	}
	if len(m.Apps) != 1 {
		var names []string
		for _, ra := range m.Apps {
			names = append(names, ra.Name.String())
		}
		return "", errdefs.InvalidArgument(fmt.Errorf("pod %s has several apps (%s): choose one with --app", p.UUID, strings.Join(names, ", ")))
	}
	return m.Apps[0].Name.String(), nil
}

func (a *app) rmCommand() *cobra.Command {
	var uuidFile string
	cmd := &cobra.Command{
		Use:     "rm [--uuid-file=FILE | UUID...]",
		Short:   "Remove all files and resources associated with exited, prepared or aborted pods",
		Example: "  rkt rm 5f1e 9a0b",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireRoot(); err != nil {
				return err
			}
			ids, err := a.podArgs(args, uuidFile)
			if err != nil {
				return err
			}
			s := a.optionalStore()
			if s != nil {
				defer s.Close()
			}
			return a.eachPod(ids, "rm", "remove", func(p *pod.Pod) (bool, error) {
				_, err := p.Remove(a.deleteOptions(cmd, s, nil))
				return true, err
			})
		},
	}
	cmd.Flags().StringVar(&uuidFile, "uuid-file", "", "read the pod's UUID from this file")
	return cmd
}

func (a *app) stopCommand() *cobra.Command {
	var (
		force    bool
		uuidFile string
	)
	cmd := &cobra.Command{
		Use:   "stop [--force] [--uuid-file=FILE | UUID...]",
		Short: "Stop running pods",
		Long: `Stop pods: their apps get SIGTERM and, after a timeout, SIGKILL. --force
kills them at once.`,
		Example: "  rkt stop 5f1e\n  rkt stop --force --uuid-file=/run/web.uuid",
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := a.podArgs(args, uuidFile)
			if err != nil {
				return err
			}
			s := a.optionalStore()
			if s != nil {
				defer s.Close()
			}
			return a.eachPod(ids, "stop", "stop", func(p *pod.Pod) (bool, error) {
				if p.State.AfterRun() {
					fmt.Fprintf(a.stderr, "stop: pod %q is already stopped\n", p.UUID)
					return false, nil
				}
				if p.State != pod.StateRunning {
					return false, fmt.Errorf("pod %q is not running (state %s)", p.UUID, p.State)
				}
				return true, stage0.Stop(cmd.Context(), s, p, force)
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "kill the pod's processes at once")
	cmd.Flags().StringVar(&uuidFile, "uuid-file", "", "read the pod's UUID from this file")
	return cmd
}

func (a *app) catManifestCommand() *cobra.Command {
	var (
		pretty   bool
		uuidFile string
	)
	cmd := &cobra.Command{
		Use:     "cat-manifest [--uuid-file=FILE | UUID]",
		Short:   "Inspect and print the pod manifest",
		Example: "  rkt cat-manifest 5f1e",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.podArg(args, uuidFile)
			if err != nil {
				return err
			}
			raw, err := p.ManifestBytes()
			if err != nil {
				return err
			}
			if pretty {
				var buf bytes.Buffer
				if err := json.Indent(&buf, raw, "", "\t"); err != nil {
					return fmt.Errorf("pod %s: manifest: %w", p.UUID, err)
				}
				raw = buf.Bytes()
			}
			fmt.Fprintln(a.stdout, string(raw))
			return nil
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty-print", true, "apply indent to format the output")
	cmd.Flags().StringVar(&uuidFile, "uuid-file", "", "read the pod's UUID from this file")
	return cmd
}

func (a *app) enterCommand() *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "enter [--app=NAME] UUID [CMD [ARGS...]]",
		Short: "Enter the namespaces of an app within a running pod",
		Long: `Run a command inside an app of a running pod: in the app's root filesystem
and namespaces, with its environment. The default command is /bin/bash,
or /bin/sh when the image has no bash.`,
		Example: "  rkt enter 5f1e\n  rkt enter --app=web 5f1e cat /etc/hostname",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, m, err := a.loadPodAs(args[0], func(s pod.State) bool { return s == pod.StateRunning }, "running")
			if err != nil {
				return err
			}
			if appName, err = chooseApp(p, m, appName); err != nil {
				return err
			}
			command := args[1:]
			if len(command) == 0 {
				command = []string{defaultShell(p.Dir, appName)}
			}
			s := a.optionalStore()
			if s != nil {
				_ = s.Close() // only the stage1 lookup needs it; exec must not keep the lock
			}
			return stage0.Enter(s, p, appName, command)
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "name of the app to enter (needed when the pod has several)")
	cmd.Flags().SetInterspersed(false) // flags after the UUID belong to CMD
	return cmd
}

// defaultShell is /bin/bash when the app's image has it, else /bin/sh.
func defaultShell(podDir, app string) string {
	layers, err := stage0.AppLayers(podDir, app)
	if err != nil {
		return "/bin/sh"
	}
	for _, p := range []string{"/bin/bash", "/usr/bin/bash"} {
		if _, err := rootfs.ReadFileInLayers(layers, p, 0); errdefs.Is(err, errdefs.KindTooLarge) || err == nil {
			return "/bin/bash"
		}
	}
	return "/bin/sh"
}

// writeOutputFile writes a file the user named (an image archive) through
// a temporary file beside it, renamed into place only when fill succeeded,
// so a failure leaves nothing and an existing file is replaced only with
// --overwrite.
func writeOutputFile(out string, overwrite bool, fill func(*os.File) error) error {
	if _, err := os.Lstat(out); err == nil && !overwrite {
		return errdefs.WithKind(errdefs.KindAlreadyExists, fmt.Errorf("%s already exists (use --overwrite)", out))
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	ok = true
	return nil
}
