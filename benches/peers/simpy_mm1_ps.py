# The processor-sharing peer of benches/peers/run.sh: M/M/1-PS (lambda=0.8, mu=1) in SimPy 4.
# SimPy has no processor-sharing resource, so this is the standard event-driven PS loop written as
# one SimPy server process: the jobs present share the server equally; at each event (an arrival,
# signalled by a SimPy event, or the next completion, a SimPy timeout) every present job's remaining
# work is reduced by (elapsed time) / n, and the job(s) with no work left depart. O(n) per event
# (mean n = 4 at this load). `python3 benches/peers/simpy_mm1_ps.py [HORIZON_S]` (default 100000 s).
# Prints jobs per second of wall time and the mean response time (theory: 1/(mu-lambda) = 5 s).
import random, sys, time, simpy
def run(n_time):
    env = simpy.Environment(); rng = random.Random(1)
    present = []   # jobs in service: [remaining work (s at the full rate), arrival time]
    arrivals = []  # jobs arrived since the server last woke
    wake = [env.event()]
    done = [0]; total = [0.0]
    def source(env):
        while True:
            yield env.timeout(rng.expovariate(0.8))
            arrivals.append([rng.expovariate(1.0), env.now])
            signal = wake[0]; wake[0] = env.event(); signal.succeed()
    def server(env):
        last = env.now
        while True:
            if present:
                next_done = env.timeout(min(j[0] for j in present) * len(present))
                yield env.any_of([next_done, wake[0]])
            else:
                yield wake[0]
            if present:
                served = (env.now - last) / len(present)
                still = []
                for j in present:
                    j[0] -= served
                    if j[0] <= 1e-9:
                        done[0] += 1; total[0] += env.now - j[1]
                    else:
                        still.append(j)
                present[:] = still
            last = env.now
            present.extend(arrivals); arrivals.clear()
    env.process(source(env)); env.process(server(env)); env.run(until=n_time)
    return done[0], total[0] / done[0]
horizon = float(sys.argv[1]) if len(sys.argv) > 1 else 100000
t = time.perf_counter(); n, mean = run(horizon); dt = time.perf_counter() - t
print(f"simpy {simpy.__version__} ps: {n} jobs in {dt:.2f} s = {n/dt:.0f} jobs/s, mean response {mean:.3f} (theory 5)")
