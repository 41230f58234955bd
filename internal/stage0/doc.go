// Package stage0 owns rkt's pod workflows on the host side: preparing a pod
// (fetching its images, mapping them to apps, writing the pod manifest and
// the pod directory), choosing and loading the stage1 image, and handing
// the pod to stage1 by exec'ing its run entrypoint in the same process. It
// reaches stage1 only through the stage1 abi and exec, and imports no
// flavor code.
package stage0
