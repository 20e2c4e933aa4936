/**
 * Resolving from the container against the libraries people pick instead (tsyringe, awilix, InversifyJS,
 * each used without decorator syntax), with a plain Map.get, a plain `new` and a Map of factories as floors.
 */
import 'reflect-metadata';
import { asClass, asFunction, createContainer, InjectionMode } from 'awilix';
import { Container as InversifyContainer } from 'inversify';
import { instanceCachingFactory, container as tsyringeRoot } from 'tsyringe';
import { Container, token } from '../src/index.ts';
import { type Result, run, spread, spreadVsBest, target } from './harness.ts';

class Config {
  readonly port = 8080;
}
class Logger {
  readonly level = 1;
}
class Service {
  readonly config: Config;
  readonly logger: Logger;
  constructor(config: Config, logger: Logger) {
    this.config = config;
    this.logger = logger;
  }
}

// Keel
const ConfigT = token<Config>('config');
const LoggerT = token<Logger>('logger');
const ServiceT = token<Service>('service');
const keel = new Container()
  .register(ConfigT, { lifetime: 'singleton', factory: () => new Config() })
  .register(LoggerT, { lifetime: 'singleton', factory: () => new Logger() })
  .register(ServiceT, {
    lifetime: 'transient',
    factory: (r) => new Service(r.resolve(ConfigT), r.resolve(LoggerT)),
  });

// InversifyJS 7: dynamic values instead of @injectable().
const inversify = new InversifyContainer();
inversify
  .bind(Config)
  .toDynamicValue(() => new Config())
  .inSingletonScope();
inversify
  .bind(Logger)
  .toDynamicValue(() => new Logger())
  .inSingletonScope();
inversify
  .bind(Service)
  .toDynamicValue((ctx) => new Service(ctx.get(Config), ctx.get(Logger)))
  .inTransientScope();

// awilix: classic injection reads the constructor's parameter names once, at registration.
const awilix = createContainer({ injectionMode: InjectionMode.CLASSIC, strict: true });
awilix.register({
  config: asClass(Config).singleton(),
  logger: asClass(Logger).singleton(),
  service: asFunction((config: Config, logger: Logger) => new Service(config, logger)).transient(),
});

// tsyringe: factories instead of @injectable(); instanceCachingFactory makes a singleton.
const tsyringe = tsyringeRoot.createChildContainer();
tsyringe.register(Config, { useFactory: instanceCachingFactory(() => new Config()) });
tsyringe.register(Logger, { useFactory: instanceCachingFactory(() => new Logger()) });
tsyringe.register(Service, { useFactory: (c) => new Service(c.resolve(Config), c.resolve(Logger)) });

// Floors.
const configKey = { name: 'config' };
const loggerKey = { name: 'logger' };
const serviceKey = { name: 'service' };
const config = new Config();
const logger = new Logger();
const values = new Map<object, unknown>([
  [configKey, config],
  [loggerKey, logger],
]);
const factories = new Map<object, () => unknown>();
factories.set(configKey, () => config);
factories.set(loggerKey, () => logger);
factories.set(
  serviceKey,
  () =>
    new Service((factories.get(configKey) as () => Config)(), (factories.get(loggerKey) as () => Logger)()),
);

// Every result is folded into this, so no loop can be optimised away.
let sink = 0;

export default async function (): Promise<void> {
  const singleton = await run({
    title: 'Resolve a singleton',
    unit: 'resolve',
    baseline: 'Map.get',
    subject: 'keel',
    candidates: [
      {
        name: 'Map.get',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += (values.get(configKey) as Config).port;
        },
      },
      {
        name: 'keel',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += keel.resolve(ConfigT).port;
        },
      },
      {
        name: 'inversify',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += inversify.get(Config).port;
        },
      },
      {
        name: 'awilix',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += awilix.resolve<Config>('config').port;
        },
      },
      {
        name: 'tsyringe',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += tsyringe.resolve(Config).port;
        },
      },
    ],
  });

  const transient = await run({
    title: 'Resolve a transient class with two singleton dependencies',
    unit: 'resolve',
    baseline: 'Map of factories',
    subject: 'keel',
    heap: true,
    candidates: [
      {
        name: 'new',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += new Service(config, logger).config.port;
        },
      },
      {
        name: 'Map of factories',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += (factories.get(serviceKey) as () => Service)().config.port;
        },
      },
      {
        name: 'keel',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += keel.resolve(ServiceT).config.port;
        },
      },
      {
        name: 'inversify',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += inversify.get(Service).config.port;
        },
      },
      {
        name: 'awilix',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += awilix.resolve<Service>('service').config.port;
        },
      },
      {
        name: 'tsyringe',
        run: (n) => {
          for (let i = 0; i < n; i++) sink += tsyringe.resolve(Service).config.port;
        },
      },
    ],
  });

  const libraries = ['inversify', 'awilix', 'tsyringe'];
  const verdicts = (label: string, results: readonly Result[]): void => {
    const best = spreadVsBest(results, 'keel', libraries);
    target(
      `${label}: keel vs the fastest library each round (${best.fastest} fastest in ${best.fastestRounds} of ${best.runs} rounds)`,
      best,
      1,
    );
    for (const library of libraries)
      target(`${label}: ${library} vs keel (keel faster)`, spread(results, library, 'keel'), 1, 'at least');
  };
  target('singleton: keel vs Map.get', spread(singleton, 'keel', 'Map.get'), 3);
  verdicts('singleton', singleton);
  target('transient: keel vs Map of factories', spread(transient, 'keel', 'Map of factories'), 2);
  verdicts('transient', transient);
  if (sink === 42) console.log('');
}
