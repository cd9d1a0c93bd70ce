// Live updates for the dashboard: a run page follows its run's events
// (Server-Sent Events), the other pages follow run status changes.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (log) { followRun(log); } else { followRuns(); }

  function text(ev) {
    var e = ev.event || {};
    var parts = [ev.time ? ev.time.substring(11, 19) : ""];
    if (e.build) parts.push(e.build + ":");
    if (e.type === "server") parts.push("[" + (e.step || "server") + "]");
    else if (e.type !== "output") parts.push("[" + e.type + (e.step ? " " + e.step : "") + "]");
    if (e.message) parts.push(e.message);
    if (e.status) parts.push(e.status);
    if (e.error) parts.push("error: " + e.error);
    return parts.join(" ");
  }

  function followRun(log) {
    var id = log.dataset.run, pending = [], pendingFirst = 0, builds = {}, scheduled = false;
    var status = document.getElementById("status");
    // The log is text nodes, one per batch of lines, oldest first; chunks
    // says where each starts (its first event's seq) and how many lines it
    // has, so that old ones can leave the page.
    var chunks = [], shown = 0, max = +log.dataset.max || 10000;
    if (log.firstChild) chunk(log.firstChild, +log.dataset.first, log.textContent.split("\n").length - 1, false);
    // The page comes with the builds table and the log's last lines; the
    // stream goes on from there.
    document.querySelectorAll("#builds tr[data-build]").forEach(function (row) { builds[row.dataset.build] = row; });
    log.scrollTop = log.scrollHeight;
    earlier(document.getElementById("earlier"));
    function chunk(node, first, n, before) {
      var c = {node: node, first: first, n: n};
      if (before) chunks.unshift(c); else chunks.push(c);
      shown += n;
    }
    // Lines are appended in batches, every 50 ms, so a 50,000-line log
    // streams in without freezing the page. While the reader follows the
    // end, the page keeps the last max lines or so: older batches go and
    // the "earlier lines" link starts before the first line left.
    function flush() {
      scheduled = false;
      if (!pending.length) return;
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      var node = document.createTextNode(pending.join("\n") + "\n");
      log.appendChild(node);
      chunk(node, pendingFirst, pending.length, false);
      pending = [];
      if (!atEnd) return;
      if (shown > max && chunks.length > 1) {
        while (shown > max && chunks.length > 1) {
          var c = chunks.shift();
          log.removeChild(c.node);
          shown -= c.n;
        }
        earlierFrom(chunks[0].first);
      }
      log.scrollTop = log.scrollHeight;
    }
    // earlierFrom points the "earlier lines" link (made if the page had
    // none) at the lines before seq.
    function earlierFrom(seq) {
      var a = document.getElementById("earlier");
      if (!a) {
        var p = document.createElement("p");
        p.id = "earlier-p";
        a = document.createElement("a");
        a.id = "earlier";
        p.appendChild(a);
        log.parentNode.insertBefore(p, log);
        earlier(a);
      }
      a.dataset.before = seq;
      a.href = "/api/v1/runs/" + id + "/events?before=" + seq + "&limit=1000";
      a.textContent = (seq - 1) + " earlier lines: load 1000 more";
    }
    var src = new EventSource("/api/v1/runs/" + id + "/events/stream?after=" + (log.dataset.after || 0));
    src.addEventListener("event", function (m) {
      var ev = JSON.parse(m.data);
      if (!pending.length) pendingFirst = ev.seq;
      pending.push(text(ev));
      build(ev);
      if (!scheduled) { scheduled = true; setTimeout(flush, 50); }
    });
    src.addEventListener("run", function (m) {
      var run = JSON.parse(m.data).event;
      status.textContent = run.status;
      status.className = "badge " + run.status;
      document.getElementById("error").textContent = run.error || "";
      if (run.status !== "queued" && run.status !== "running") {
        src.close();
        var c = document.getElementById("cancel-form");
        if (c) c.remove();
        flush();
      }
    });
    // earlier makes the "earlier lines" link load the page of lines
    // before the first shown, in place.
    function earlier(a) {
      if (!a) return;
      a.addEventListener("click", function (e) {
        e.preventDefault();
        fetch(a.href, {credentials: "same-origin"}).then(function (r) {
          if (!r.ok) throw new Error(r.status + " " + r.statusText);
          return r.json();
        }).then(function (evs) {
          if (!evs.length) { a.parentNode.remove(); return; }
          var h = log.scrollHeight;
          var node = document.createTextNode(evs.map(text).join("\n") + "\n");
          log.insertBefore(node, log.firstChild);
          chunk(node, evs[0].seq, evs.length, true);
          log.scrollTop += log.scrollHeight - h;
          var first = evs[0].seq;
          if (first <= 1) { a.parentNode.remove(); return; }
          earlierFrom(first);
        }).catch(function (err) { a.textContent = "could not load earlier lines: " + err.message; });
      });
    }
    function build(ev) {
      var e = ev.event || {};
      if (!e.build) return;
      var row = builds[e.build];
      if (!row) {
        row = document.getElementById("builds").insertRow(-1);
        row.dataset.build = e.build;
        for (var i = 0; i < 4; i++) row.insertCell(-1);
        row.cells[0].textContent = e.build;
        row.cells[1].textContent = "running";
        builds[e.build] = row;
      }
      if (e.type === "step_started") row.cells[2].textContent = e.step;
      if (e.type === "build_finished") {
        row.cells[1].textContent = e.status;
        row.cells[1].className = e.status;
        if (e.elapsed_seconds) row.cells[3].textContent = e.elapsed_seconds.toFixed(1) + " s";
      }
    }
  }

  function followRuns() {
    if (!document.getElementById("runs") && !document.getElementById("pipelines")) return;
    var src = new EventSource("/api/v1/stream");
    src.addEventListener("run", function (m) {
      var run = JSON.parse(m.data).event;
      var rows = document.querySelectorAll('tr[data-run="' + run.id + '"]');
      if (!rows.length) {
        var table = document.getElementById("runs");
        if (!table || table.dataset.pipeline) return;
        var row = table.insertRow(1);
        row.dataset.run = run.id;
        row.innerHTML = '<td><a></a></td><td class="p"></td><td><span class="badge status"></span></td><td></td><td></td><td class="why"></td>';
        row.querySelector("a").href = "/runs/" + run.id;
        row.querySelector("a").textContent = "#" + run.id;
        row.querySelector(".p").textContent = run.pipeline;
        rows = [row];
      }
      rows.forEach(function (row) {
        var b = row.querySelector(".status");
        b.textContent = run.status;
        b.className = "badge status " + run.status;
        row.querySelector(".why").textContent = run.error || "";
      });
      var last = document.querySelector('tr[data-pipeline="' + run.pipeline + '"] .lastruns');
      if (last) {
        var a = last.querySelector('[data-run="' + run.id + '"]');
        if (!a) {
          a = document.createElement("a");
          a.href = "/runs/" + run.id;
          a.dataset.run = run.id;
          a.textContent = "#" + run.id;
          last.insertBefore(document.createTextNode(" "), last.firstChild);
          last.insertBefore(a, last.firstChild);
        }
        a.className = "badge " + run.status;
        a.title = run.status;
      }
    });
  }
})();
