package main

import "runtime/debug"

// version is the module's version when built from a tagged module, else
// the commit and its time (with "-dirty" for uncommitted changes), else
// "devel".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionOf(info)
}

func versionOf(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		return "devel"
	}
	if settings["vcs.modified"] == "true" {
		rev += "-dirty"
	}
	if t := settings["vcs.time"]; t != "" {
		rev += " (" + t + ")"
	}
	return rev
}
