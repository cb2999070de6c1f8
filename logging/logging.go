// Package logging owns the exporter's go-kit logger: its --log.level and
// --log.format flags, the guard every line passes (secrets masked, a line
// repeated within --log.repeat-interval written once with its count), and
// the bridge that hands the same logger to libraries that want a
// *slog.Logger.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// Config is the logger's settings.
type Config struct {
	Level  string // debug, info, warn, error
	Format string // logfmt, json
	// RepeatInterval is how long a line silences identical lines, which
	// are then written as one line with their count; 0 writes every line.
	RepeatInterval time.Duration
}

// AddFlags adds --log.level and --log.format to app.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").
		Default("info").EnumVar(&c.Level, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").
		Default("logfmt").EnumVar(&c.Format, "logfmt", "json")
	app.Flag("log.repeat-interval", "A log line identical to one written less than this ago is not written; when the interval ends, one line says how many were (repeated=N over=45s). 0 writes every line.").
		Default(DefaultRepeatInterval.String()).DurationVar(&c.RepeatInterval)
	return c
}

// New returns a logger writing to w with a timestamp and caller, masking
// secrets and counting repeated lines as c says.
func New(c Config, w io.Writer) (log.Logger, error) {
	var l log.Logger
	switch c.Format {
	case "", "logfmt":
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	case "json":
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("unknown log format %q (want logfmt or json)", c.Format)
	}
	var opt level.Option
	switch c.Level {
	case "debug":
		opt = level.AllowDebug()
	case "", "info":
		opt = level.AllowInfo()
	case "warn":
		opt = level.AllowWarn()
	case "error":
		opt = level.AllowError()
	default:
		return nil, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", c.Level)
	}
	if c.RepeatInterval < 0 || c.RepeatInterval > time.Hour {
		return nil, fmt.Errorf("--log.repeat-interval must be between 0 and 1h, got %s", c.RepeatInterval)
	}
	l = level.NewFilter(newGuard(l, c.RepeatInterval), opt)
	return log.With(l, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), nil
}

// Slog bridges a go-kit logger into a *slog.Logger at the given level.
func Slog(l log.Logger, c Config) *slog.Logger {
	lvl := slog.LevelInfo
	switch c.Level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	return slog.New(sloggokit.NewGoKitHandler(l, lvl))
}
