package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// sparkline draws a series' recent scores against its threshold as an
// inline SVG: the score line, the threshold dashed, anomalous windows as
// red dots. Only numbers go into the markup.
func sparkline(points []Point, width, height float64) template.HTML {
	top := 1.0
	for _, p := range points {
		top = math.Max(top, math.Max(p.Score, p.Threshold))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="recent scores against the threshold">`, width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="#f6f8fa"/>`, width, height)
	if len(points) == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	x := func(i int) float64 {
		if len(points) == 1 {
			return width / 2
		}
		return 2 + float64(i)*(width-4)/float64(len(points)-1)
	}
	y := func(v float64) float64 { return height - 2 - (v/top)*(height-4) }
	th := points[len(points)-1].Threshold
	fmt.Fprintf(&b, `<line class="threshold" x1="0" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#d73a49" stroke-dasharray="3 2" stroke-width="1"/>`, width, y(th), y(th))
	b.WriteString(`<polyline class="score" fill="none" stroke="#0366d6" stroke-width="1.5" points="`)
	buf := make([]byte, 0, 60*len(points))
	for i, p := range points {
		buf = strconv.AppendFloat(buf, x(i), 'f', 1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, y(p.Score), 'f', 1, 64)
		buf = append(buf, ' ')
	}
	buf = append(buf, `"/>`...)
	for i, p := range points {
		if p.Score >= p.Threshold {
			buf = append(buf, `<circle cx="`...)
			buf = strconv.AppendFloat(buf, x(i), 'f', 1, 64)
			buf = append(buf, `" cy="`...)
			buf = strconv.AppendFloat(buf, y(p.Score), 'f', 1, 64)
			buf = append(buf, `" r="2" fill="#d73a49"/>`...)
		}
	}
	b.Write(buf)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// compact writes a number short: 1.2k, 3.4M, 0.25.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
