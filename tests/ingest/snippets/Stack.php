<?php
namespace App\Models;

use Foo\Bar;

class Stack extends Base
{
    private $items = [];

    public function push($x)
    {
        $this->items[] = $x; $this->items[] = $x; $this->items[] = $x; $this->items[] = $x;
        $this->items[] = $x; $this->items[] = $x; $this->items[] = $x;
    }
}

function helper() { return 1; }
