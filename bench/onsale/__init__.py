"""The on-sale benchmark (``ticketmaster bench onsale``): buyers queue, are admitted, read
the map, race for seats, pay or abandon, until the event is sold out; faults can be injected
on the way, and ``ticketmaster audit`` checks the result. Modules, by role:

- :mod:`.config` the options; :mod:`.client` a lightweight HTTP/1.1 client with bounded
  connections and a per-request journal; :mod:`.seats` seat choice from the map;
- :mod:`.buyer` one buyer's journey; :mod:`.stack` the system it starts (or an existing one);
  :mod:`.chaos` the faults; :mod:`.run` the orchestration;
- :mod:`.stats` the figures, :mod:`.plots` the PNGs, :mod:`.costs` per-request costs for the
  simulation (:mod:`bench.simulate`).
"""
