// Package network attaches a pod to its CNI networks and detaches it again:
// it finds the network configurations (the local configuration's net.d over
// the stage1 image's built-ins), creates the pod's network namespace, runs
// the plugins' ADD in file-name order (eth0, eth1, ...) with the pod's port
// forwards, records every attachment in the pod's net-info.json before its
// ADD runs, and runs DEL in reverse order at the pod's end or at gc, so that
// nothing a plugin made outlives the pod, even when the pod was killed or a
// plugin failed halfway.
//
// It is stage1 code: it runs the plugins on the host side and never reads
// the image store.
package network
