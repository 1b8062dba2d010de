// Container names: Docker's validation and its adjective_surname generator.
import { randomInt } from 'node:crypto';
import { InvalidParameter } from '../util/errors';

const VALID = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Returns the name without its leading slash, or throws Docker's error. */
export function validateName(name: string): string {
  if (!VALID.test(name)) throw new InvalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

const LEFT = [
  'admiring', 'adoring', 'affectionate', 'agitated', 'amazing', 'angry', 'awesome', 'beautiful', 'blissful', 'bold',
  'boring', 'brave', 'busy', 'charming', 'clever', 'compassionate', 'competent', 'condescending', 'confident', 'cool',
  'cranky', 'crazy', 'dazzling', 'determined', 'distracted', 'dreamy', 'eager', 'ecstatic', 'elastic', 'elated',
  'elegant', 'eloquent', 'epic', 'exciting', 'fervent', 'festive', 'flamboyant', 'focused', 'friendly', 'frosty',
  'funny', 'gallant', 'gifted', 'goofy', 'gracious', 'great', 'happy', 'hardcore', 'heuristic', 'hopeful', 'hungry',
  'infallible', 'inspiring', 'intelligent', 'interesting', 'jolly', 'jovial', 'keen', 'kind', 'laughing', 'loving',
  'lucid', 'magical', 'modest', 'musing', 'mystifying', 'naughty', 'nervous', 'nice', 'nifty', 'nostalgic', 'objective',
  'optimistic', 'peaceful', 'pedantic', 'pensive', 'practical', 'priceless', 'quirky', 'quizzical', 'recursing',
  'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly', 'sleepy', 'stoic', 'strange', 'stupefied',
  'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'unruffled', 'upbeat', 'vibrant', 'vigilant', 'vigorous',
  'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];
const RIGHT = [
  'agnesi', 'albattani', 'allen', 'archimedes', 'ardinghelli', 'babbage', 'banach', 'bardeen', 'bartik', 'bell',
  'bhabha', 'blackwell', 'bohr', 'booth', 'borg', 'bose', 'brahmagupta', 'brattain', 'brown', 'carson', 'cerf',
  'chandrasekhar', 'clarke', 'curie', 'darwin', 'davinci', 'dijkstra', 'dirac', 'edison', 'einstein', 'elion',
  'engelbart', 'euclid', 'euler', 'faraday', 'fermat', 'fermi', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg',
  'goodall', 'hamilton', 'hawking', 'heisenberg', 'hertz', 'hodgkin', 'hopper', 'hypatia', 'jackson', 'jennings',
  'johnson', 'kalam', 'kapitsa', 'keller', 'kepler', 'knuth', 'lamarr', 'lamport', 'leakey', 'lovelace', 'lumiere',
  'mayer', 'mccarthy', 'meitner', 'mendel', 'mirzakhani', 'montalcini', 'morse', 'napier', 'newton', 'nobel', 'noether',
  'pascal', 'pasteur', 'payne', 'perlman', 'pike', 'poincare', 'ptolemy', 'raman', 'ritchie', 'rosalind', 'sammet',
  'shannon', 'shockley', 'sinoussi', 'stallman', 'swartz', 'tesla', 'thompson', 'torvalds', 'turing', 'volhard',
  'wescoff', 'wiles', 'williams', 'wilson', 'wozniak', 'wright', 'yalow', 'yonath',
];

/** A random `adjective_surname`; `retry` > 0 appends a digit as Docker does. */
export function randomName(retry = 0): string {
  let n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
  if (n === 'boring_wozniak') return randomName(retry);
  if (retry > 0) n += String(randomInt(10));
  return n;
}
