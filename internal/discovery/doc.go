// Package discovery is appc meta discovery: from an image name and labels
// ("example.com/app:v1.0", "example.com/app,version=v1.0,os=linux") to the
// URLs of the image, its signature and its signing keys, found in the
// ac-discovery and ac-discovery-pubkeys meta tags of
// https://<name or a parent>?ac-discovery=1, whose templates take
// {name}, {version}, {os}, {arch}, {ext} and any other label.
//
// Discovery pages are hostile input: only the first MaxPage bytes of a page
// are read, and rendered URLs must be http(s) URLs.
package discovery
