# The FIFO peer of benches/peers/run.sh and benches/kernel.rs: M/M/1 FIFO in SimPy 4 (lambda=0.8,
# mu=1), a simpy.Resource of capacity 1. `pip install simpy && python3 benches/peers/simpy_mm1.py
# [HORIZON_S]` (default 100000 s, ~80k jobs; run.sh gives 1250000 s, ~1M jobs). Prints jobs per
# second of wall time and the mean response time (theory: 1/(mu-lambda) = 5 s).
import random, sys, time, simpy
def run(n_time):
    env = simpy.Environment(); server = simpy.Resource(env, capacity=1); rng = random.Random(1)
    done = [0]; total = [0.0]
    def job(env):
        t0 = env.now
        with server.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0))
        done[0] += 1; total[0] += env.now - t0
    def source(env):
        while True:
            yield env.timeout(rng.expovariate(0.8)); env.process(job(env))
    env.process(source(env)); env.run(until=n_time)
    return done[0], total[0] / done[0]
horizon = float(sys.argv[1]) if len(sys.argv) > 1 else 100000
t = time.perf_counter(); n, mean = run(horizon); dt = time.perf_counter() - t
print(f"simpy {simpy.__version__} fifo: {n} jobs in {dt:.2f} s = {n/dt:.0f} jobs/s, mean response {mean:.3f} (theory 5)")
