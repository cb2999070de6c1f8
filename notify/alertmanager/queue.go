package alertmanager

import (
	"container/list"
	"sync"

	"github.com/prometheus/alertmanager/api/v2/models"
)

// queue holds the alerts waiting for one Alertmanager, oldest first. It
// keeps only the newest state of each alert (a resend or a resolve replaces
// what waits and moves to the back), so an outage makes it hold each alert
// once rather than grow; when it is full, the oldest alert is dropped.
type queue struct {
	mu       sync.Mutex
	capacity int
	order    *list.List // of *entry, oldest first
	byKey    map[string]*list.Element
	seq      uint64
	wake     chan struct{}
}

type entry struct {
	key   string
	seq   uint64
	alert *models.PostableAlert
}

func newQueue(capacity int) *queue {
	return &queue{capacity: capacity, order: list.New(), byKey: map[string]*list.Element{}, wake: make(chan struct{}, 1)}
}

// push adds or replaces the alert under key and returns how many alerts it
// dropped to make room.
func (q *queue) push(key string, a *models.PostableAlert) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	if el, ok := q.byKey[key]; ok {
		q.order.Remove(el)
	} else {
		for q.order.Len() >= q.capacity {
			oldest := q.order.Front()
			q.order.Remove(oldest)
			delete(q.byKey, oldest.Value.(*entry).key)
			dropped++
		}
	}
	q.byKey[key] = q.order.PushBack(&entry{key: key, seq: q.seq, alert: a})
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

// peek returns up to n of the oldest entries without removing them.
func (q *queue) peek(n int) []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]entry, 0, min(n, q.order.Len()))
	for el := q.order.Front(); el != nil && len(out) < n; el = el.Next() {
		out = append(out, *el.Value.(*entry))
	}
	return out
}

// ack removes the entries sent, unless a newer state replaced them since.
func (q *queue) ack(sent []entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range sent {
		if el, ok := q.byKey[e.key]; ok && el.Value.(*entry).seq == e.seq {
			q.order.Remove(el)
			delete(q.byKey, e.key)
		}
	}
}

// len is how many alerts wait.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.order.Len()
}
