//go:build !rktfront

package cli

import (
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/mds"
	"github.com/rkt/rkt/internal/mds/mdsclient"
)

func (a *app) metadataServiceCommand() *cobra.Command {
	var opts mds.Options
	cmd := &cobra.Command{
		Use:   "metadata-service [--listen-port=PORT]",
		Short: "Run the metadata service",
		Long: `Run the appc metadata service in the foreground, until SIGINT or SIGTERM.

Pods run with 'rkt run --mds-register' are registered with it (over the
unix socket /run/rkt/metadata-svc.sock) and their apps get AC_METADATA_URL,
http://<host address>:PORT/<token>, where they can read their pod's
manifest, annotations and UUID, their own image manifest, image ID and
annotations, and sign and verify pod identities (acMetadata/v1/pod/hmac).
The token selects the pod: an app sees nothing of other pods. A systemd
socket unit may pass the registration socket (LISTEN_FDS).`,
		Example: `  rkt metadata-service &
  rkt run --mds-register example.com/app`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireRoot(); err != nil {
				return err
			}
			if opts.Port < 0 || opts.Port > 65535 {
				return errdefs.InvalidArgument(fmt.Errorf("invalid --listen-port %d", opts.Port))
			}
			var mu sync.Mutex
			opts.Logf = func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(a.stderr, format+"\n", args...)
			}
			return mds.Serve(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&opts.Port, "listen-port", mdsclient.DefaultPort, "the TCP port apps reach the service on (0: any free port)")
	fs.StringVar(&opts.Socket, "socket", mdsclient.DefaultSocket, "the registration socket (for tests; rkt run --mds-socket must name the same)")
	_ = fs.MarkHidden("socket")
	return cmd
}
