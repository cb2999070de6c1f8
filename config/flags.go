package config

import (
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// FlagsSet returns the flags given on the command line, by name, as
// Sources.Flags takes them: ctx comes from kingpin's
// Application.ParseContext on the same arguments as Parse. A negated
// boolean (--no-detector.port-scan) gives "false" under the flag's own
// name; a repeated flag's values are joined with commas. Flags that took
// their value from an environment variable or their default are absent.
func FlagsSet(ctx *kingpin.ParseContext) map[string]string {
	out := map[string]string{}
	if ctx == nil {
		return out
	}
	for _, el := range ctx.Elements {
		flag, ok := el.Clause.(*kingpin.FlagClause)
		if !ok || el.Value == nil {
			continue
		}
		name := flag.Model().Name
		if prev, seen := out[name]; seen {
			out[name] = strings.Join([]string{prev, *el.Value}, flagListSeparator)
			continue
		}
		out[name] = *el.Value
	}
	return out
}
