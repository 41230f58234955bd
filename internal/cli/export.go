//go:build !rktfront

package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/store"
)

func (a *app) exportCommand() *cobra.Command {
	var (
		appName   string
		overwrite bool
	)
	cmd := &cobra.Command{
		Use:   "export [--app=NAME] UUID OUTPUT",
		Short: "Export an app from an exited pod to an image file",
		Long: `Write an exited app's root filesystem, with every change the app made, as a
new image. An OUTPUT named *.aci is an appc ACI (as rkt 1.x wrote): the app
image's manifest and the whole root filesystem; run it with 'rkt run
OUTPUT'. Any other OUTPUT is an OCI image archive holding the app image's
layers and one layer of the changes; run it with 'rkt run
oci-archive:OUTPUT'. Apps of ACIs export as ACIs only.`,
		Example: "  rkt export --app=web 5f1e web-snapshot.tar\n  rkt --insecure-options=image run --net=host oci-archive:web-snapshot.tar\n  rkt export 5f1e web.aci",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, m, err := a.loadPodAs(args[0], pod.State.AfterRun, "exited")
			if err != nil {
				return err
			}
			if appName, err = chooseApp(p, m, appName); err != nil {
				return err
			}
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			out := args[1]
			ref := "localhost/exported/" + appName + ":" + p.UUID[:8]
			return writeOutputFile(out, overwrite, func(f *os.File) error {
				format := stage0.ExportOCI
				if strings.HasSuffix(out, ".aci") {
					format = stage0.ExportACI
				}
				return stage0.Export(cmd.Context(), s, p, appName, ref, filepath.Dir(out), format, f)
			})
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "name of the app to export (needed when the pod has several)")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "overwrite the output file if it exists")
	return cmd
}
