package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/appc/spec/schema"
	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// podNet is one network of a pod as rkt 1.x's API showed it: the fields
// of net-info.json that are not teardown state (decoding net-info.json
// into it drops the rest).
type podNet = abi.NetInfoV1

// netsOf reads the pod's networks; host and none networking have none.
func netsOf(p *pod.Pod) []podNet {
	raw, err := p.NetInfoJSON()
	if err != nil || len(raw) == 0 {
		return nil
	}
	var nets []podNet
	if json.Unmarshal(raw, &nets) != nil {
		return nil
	}
	return nets
}

func formatNets(nets []podNet) string {
	var parts []string
	for _, n := range nets {
		if n.IP != "" { // an attachment that never completed
			parts = append(parts, n.NetName+":ip4="+n.IP)
		}
	}
	return strings.Join(parts, ", ")
}

// appImage is what list and status show of an app's image.
type appImage struct {
	app, name, id string
}

// appImages lists a pod's apps with their image names and stored IDs.
func appImages(p *pod.Pod, m *schema.PodManifest) []appImage {
	var out []appImage
	for _, ra := range m.Apps {
		ai := appImage{app: ra.Name.String()}
		if ra.Image.Name != nil {
			ai.name = ra.Image.Name.String()
		}
		if v, ok := ra.Image.Labels.Get("version"); ok {
			ai.name += ":" + v
		}
		if n, ok := ra.Annotations.Get(podspec.AnnotationStoredName); ok {
			ai.name = n
		}
		if id, ok := ra.Annotations.Get(podspec.AnnotationStoredID); ok {
			ai.id = id
		} else {
			ai.id = ra.Image.ID.String()
		}
		out = append(out, ai)
	}
	return out
}

// v1App and v1Pod are the JSON forms of rkt 1.x's API (list and status
// --format=json): pod times in Unix seconds, app times in nanoseconds.
type v1App struct {
	Name            string            `json:"name"`
	State           string            `json:"state"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	FinishedAt      *int64            `json:"finished_at,omitempty"`
	ExitCode        *int              `json:"exit_code,omitempty"`
	ImageID         string            `json:"image_id"`
	Mounts          []any             `json:"mounts,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

type v1Pod struct {
	Name            string            `json:"name"`
	State           string            `json:"state"`
	Networks        []podNet          `json:"networks,omitempty"`
	AppNames        []string          `json:"app_names,omitempty"`
	Apps            []v1App           `json:"apps,omitempty"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

func toV1Pod(p *pod.Pod) v1Pod {
	out := v1Pod{Name: p.UUID, State: string(p.State), Networks: netsOf(p)}
	if t, err := p.CreatedAt(); err == nil && !t.IsZero() {
		s := t.Unix()
		out.CreatedAt = &s
	}
	started, ok, _ := p.StartedAt()
	if ok {
		s := started.Unix()
		out.StartedAt = &s
	}
	m, err := p.Manifest()
	if err != nil {
		return out
	}
	codes, _ := p.AppExitCodes()
	for _, ai := range appImages(p, m) {
		out.AppNames = append(out.AppNames, ai.app)
		app := v1App{Name: ai.app, ImageID: ai.id, State: appState(p.State, codes, ai.app)}
		if c, ok := codes[ai.app]; ok {
			c := c
			app.ExitCode = &c
			if fin, err := appFinished(p, ai.app); err == nil {
				n := fin.UnixNano()
				app.FinishedAt = &n
			}
		}
		if out.CreatedAt != nil {
			n := *out.CreatedAt * int64(time.Second)
			app.CreatedAt = &n
		}
		if ok {
			n := started.UnixNano()
			app.StartedAt = &n
		}
		out.Apps = append(out.Apps, app)
	}
	return out
}

// appState is an app's state in the v1 API.
func appState(ps pod.State, codes map[string]int, app string) string {
	if _, done := codes[app]; done {
		return "exited"
	}
	switch ps {
	case pod.StateRunning:
		return "running"
	case pod.StatePrepared, pod.StatePreparing, pod.StateEmbryo:
		return "created"
	}
	return "exited"
}

func appFinished(p *pod.Pod, app string) (time.Time, error) {
	st, err := os.Stat(filepath.Join(p.Dir, abi.StatusDir, app))
	if err != nil {
		return time.Time{}, err
	}
	return st.ModTime(), nil
}

func (a *app) listCommand() *cobra.Command {
	var (
		full, noLegend bool
		format         string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pods",
		Long: `List every pod in the data directory, one row per app. Pods that could not
be read are reported after the table.`,
		Example: "  rkt list\n  rkt list --full --no-legend\n  rkt list --format=json-pretty",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "" && format != "json" && format != "json-pretty" {
				return errdefs.InvalidArgument(fmt.Errorf("invalid --format %q (want json or json-pretty)", format))
			}
			pods, errs := pod.ListIncluding(a.dir, pod.IncludeMost)
			created := make(map[*pod.Pod]time.Time, len(pods))
			for _, p := range pods {
				created[p], _ = p.CreatedAt()
			}
			sort.SliceStable(pods, func(i, j int) bool { return created[pods[i]].Before(created[pods[j]]) })
			if format != "" {
				out := make([]v1Pod, 0, len(pods))
				for _, p := range pods {
					out = append(out, toV1Pod(p))
				}
				if err := a.printJSON(out, format == "json-pretty"); err != nil {
					return err
				}
			} else {
				a.printPodTable(pods, full, noLegend)
			}
			for _, err := range errs {
				fmt.Fprintf(a.stderr, "list: %s\n", oneLine(err.Error()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "use long output format (full UUIDs and image IDs, absolute times)")
	cmd.Flags().BoolVar(&noLegend, "no-legend", false, "suppress a legend with the list")
	cmd.Flags().StringVar(&format, "format", "", "output format: json or json-pretty")
	return cmd
}

func (a *app) printJSON(v any, pretty bool) error {
	var b []byte
	var err error
	if pretty {
		b, err = json.MarshalIndent(v, "", "\t")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(b))
	return nil
}

func (a *app) printPodTable(pods []*pod.Pod, full, noLegend bool) {
	bw := bufio.NewWriterSize(a.stdout, 64<<10)
	defer func() { _ = bw.Flush() }() // a failed write to stdout has nowhere to go
	tw := tabwriter.NewWriter(bw, 0, 8, 1, '\t', 0)
	if !noLegend {
		if full {
			fmt.Fprintln(tw, "UUID\tAPP\tIMAGE NAME\tIMAGE ID\tSTATE\tCREATED\tSTARTED\tNETWORKS")
		} else {
			fmt.Fprintln(tw, "UUID\tAPP\tIMAGE NAME\tSTATE\tCREATED\tSTARTED\tNETWORKS")
		}
	}
	now := time.Now()
	for _, p := range pods {
		uuid := p.UUID
		if !full {
			uuid = uuid[:8]
		}
		created, started := "", ""
		if t, err := p.CreatedAt(); err == nil && !t.IsZero() {
			created = formatTime(t, now, full)
		}
		if t, ok, _ := p.StartedAt(); ok {
			started = formatTime(t, now, full)
		}
		nets := formatNets(netsOf(p))
		apps := []appImage{{app: "-", name: "-", id: "-"}}
		if m, err := p.Manifest(); err == nil && len(m.Apps) > 0 {
			apps = appImages(p, m)
		}
		for i, ai := range apps {
			id := ai.id
			if len(id) > 19 {
				id = id[:19]
			}
			var row []string
			if i == 0 {
				row = []string{uuid, ai.app, ai.name}
				if full {
					row = append(row, id)
				}
				row = append(row, string(p.State), created, started, nets)
			} else {
				row = []string{"", ai.app, ai.name}
				if full {
					row = append(row, id)
				}
				row = append(row, "", "", "", "")
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	_ = tw.Flush()
}

// waitFlag is --wait / --wait-ready: false, true (forever) or a duration.
type waitFlag struct {
	set bool
	d   time.Duration
}

func (w *waitFlag) Set(s string) error {
	switch s {
	case "true":
		*w = waitFlag{set: true}
		return nil
	case "false":
		*w = waitFlag{}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is not a boolean or a duration", s)
	}
	*w = waitFlag{set: true, d: d}
	return nil
}

func (w *waitFlag) String() string {
	if !w.set {
		return "false"
	}
	if w.d == 0 {
		return "true"
	}
	return w.d.String()
}

func (w *waitFlag) Type() string { return "bool|duration" }

func (w *waitFlag) context(parent context.Context) (context.Context, context.CancelFunc) {
	if w.d > 0 {
		return context.WithTimeout(parent, w.d)
	}
	return context.WithCancel(parent)
}

// podArg finds the pod a command names, by UUID prefix or --uuid-file.
func (a *app) podArg(args []string, uuidFile string) (*pod.Pod, error) {
	id := ""
	switch {
	case uuidFile != "" && len(args) > 0:
		return nil, errdefs.InvalidArgument(fmt.Errorf("give a UUID or --uuid-file, not both"))
	case uuidFile != "":
		u, err := pod.ReadUUIDFile(uuidFile)
		if err != nil {
			return nil, err
		}
		id = u
	case len(args) == 1:
		id = args[0]
	default:
		return nil, errdefs.InvalidArgument(fmt.Errorf("give exactly one pod UUID"))
	}
	return pod.Load(a.dir, id)
}

func (a *app) statusCommand() *cobra.Command {
	var (
		wait, waitReady waitFlag
		uuidFile        string
		format          string
	)
	cmd := &cobra.Command{
		Use:   "status [--uuid-file=FILE | UUID]",
		Short: "Check the status of a pod",
		Long: `Print a pod's status as key=value lines (state, created, started, networks,
pid, exited, and each exited app's exit code), or as JSON with --format.
--wait waits for the pod to exit, --wait-ready for it to be running with its
apps started; each takes true or a timeout such as 10s.`,
		Example: "  rkt status 5f1e\n  rkt status --wait=30s --uuid-file=/run/web.uuid",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "" && format != "json" && format != "json-pretty" {
				return errdefs.InvalidArgument(fmt.Errorf("invalid --format %q (want json or json-pretty)", format))
			}
			p, err := a.podArg(args, uuidFile)
			if err != nil {
				if uuidFile != "" {
					a.exitCode = 1
					fmt.Fprintf(a.stderr, "status: %s\n", oneLine(err.Error()))
					return nil
				}
				return err
			}
			if waitReady.set {
				ctx, cancel := waitReady.context(cmd.Context())
				err := waitPodReady(ctx, p)
				cancel()
				if err != nil {
					return fmt.Errorf("pod %s: wait for ready: %w", p.UUID, err)
				}
			}
			if wait.set {
				ctx, cancel := wait.context(cmd.Context())
				err := p.WaitExited(ctx)
				cancel()
				if err != nil {
					return fmt.Errorf("pod %s: wait for exit: %w", p.UUID, err)
				}
				if err := p.Refresh(); err != nil {
					return err
				}
			}
			if format != "" {
				return a.printJSON(toV1Pod(p), format == "json-pretty")
			}
			a.printStatus(p)
			return nil
		},
	}
	cmd.Flags().Var(&wait, "wait", "wait for the pod to exit (true, or a timeout)")
	cmd.Flags().Lookup("wait").NoOptDefVal = "true"
	cmd.Flags().Var(&waitReady, "wait-ready", "wait for the pod to be ready (true, or a timeout)")
	cmd.Flags().Lookup("wait-ready").NoOptDefVal = "true"
	cmd.Flags().StringVar(&uuidFile, "uuid-file", "", "read the pod's UUID from this file")
	cmd.Flags().StringVar(&format, "format", "", "output format: json or json-pretty")
	return cmd
}

// waitPodReady polls until the pod runs and its supervisor says ready.
func waitPodReady(ctx context.Context, p *pod.Pod) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if err := p.Refresh(); err != nil {
			return err
		}
		if p.State == pod.StateRunning {
			if target, err := os.Readlink(filepath.Join(p.Dir, abi.SupervisorStatus)); err == nil && target == "ready" {
				return nil
			}
		}
		if p.State.AfterRun() {
			return fmt.Errorf("the pod is %s", p.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (a *app) printStatus(p *pod.Pod) {
	fmt.Fprintf(a.stdout, "state=%s\n", p.State)
	if t, err := p.CreatedAt(); err == nil && !t.IsZero() {
		fmt.Fprintf(a.stdout, "created=%s\n", t.Format(timeLayout))
	}
	if t, ok, _ := p.StartedAt(); ok {
		fmt.Fprintf(a.stdout, "started=%s\n", t.Format(timeLayout))
	}
	ran := p.State == pod.StateRunning || p.State.AfterRun()
	if ran {
		fmt.Fprintf(a.stdout, "networks=%s\n", formatNets(netsOf(p)))
	}
	if pid, err := p.PID(); err == nil {
		fmt.Fprintf(a.stdout, "pid=%d\n", pid)
	}
	if ran || p.State == pod.StateDeleting {
		fmt.Fprintf(a.stdout, "exited=%s\n", strconv.FormatBool(p.State != pod.StateRunning))
	}
	if p.State != pod.StateRunning {
		codes, _ := p.AppExitCodes()
		names := make([]string, 0, len(codes))
		for n := range codes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(a.stdout, "app-%s=%d\n", n, codes[n])
		}
	}
}
