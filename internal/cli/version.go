package cli

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// appcVersion is the App Container spec version rkt's types follow.
const appcVersion = "0.8.11"

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "rkt Version: %s\n", version)
			fmt.Fprintf(a.stdout, "appc Version: %s\n", appcVersion)
			fmt.Fprintf(a.stdout, "Go Version: %s\n", runtime.Version())
			fmt.Fprintf(a.stdout, "Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(a.stdout, "Features: +OCI-IMAGES +OVERLAY -TPM\n")
			return nil
		},
	}
}

func (a *app) configCommand() *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the merged configuration as JSON",
		Long: `Print the configuration that rkt uses, merged from the system, local and
user configuration directories (auth.d, paths.d, stage1.d), as JSON. Each
auth domain and each docker registry is its own entry.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := map[string]any{"stage0": a.cfg.Entries()}
			var b []byte
			var err error
			if pretty {
				b, err = json.MarshalIndent(out, "", "\t")
			} else {
				b, err = json.Marshal(out)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, string(b))
			return nil
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty-print", true, "apply indent to format the output")
	return cmd
}
