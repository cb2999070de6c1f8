package web

import (
	"html/template"
	"net/http"
)

// Setting is one line of the configuration page: a setting in force, its
// value (secrets already masked) and where it came from.
type Setting struct {
	Name, Value, Origin string
}

// Config writes the configuration page: every setting in force, in the
// pages' frame, linked from their header.
// Warnings of the configuration (accepted, but a user should know) are
// listed above the settings.
func (p *Pages) Config(w http.ResponseWriter, settings []Setting, warnings []string) {
	render(w, configPage, struct {
		Cfg      Config
		Settings []Setting
		Warnings []string
	}{p.cfg, settings, warnings})
}

var configPage = template.Must(template.New("config").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Cfg.Name}}: configuration</title>` + style + `</head><body>
` + header + `
<main>
<h2>Configuration in force</h2>
<p class="muted">Every setting as the exporter runs it, with where its value came from: a flag, Calico's environment, a file or a GlobalAlert (with its line), or the default. <a href="?format=text">As text</a>.</p>
{{if .Warnings}}<h3>Warnings</h3><ul id="warnings">{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
<table id="settings"><thead><tr><th>Setting</th><th>Value</th><th>Origin</th></tr></thead><tbody>
{{range .Settings}}<tr><td><code>{{.Name}}</code></td><td><code>{{.Value}}</code></td><td class="muted">{{.Origin}}</td></tr>
{{end}}</tbody></table>
</main></body></html>
`))
