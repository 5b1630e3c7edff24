# The peer measurement for benches/kernel.rs: `pip install simpy && python3 benches/peers/simpy_mm1.py`.
# M/M/1 FIFO in SimPy 4 (lambda=0.8, mu=1), jobs per second of wall time.
import random, time, simpy
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
t = time.perf_counter(); n, mean = run(100000); dt = time.perf_counter() - t
print(f"simpy {simpy.__version__}: {n} jobs in {dt:.2f} s = {n/dt:.0f} jobs/s, mean response {mean:.3f} (theory 5)")
